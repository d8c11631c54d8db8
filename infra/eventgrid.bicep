// Event Grid wiring, deployed by the azd postdeploy hook (scripts/postdeploy.sh) once per source subscription,
// into a resource group of that subscription, after the function code is deployed: an AzureFunction
// destination is validated when the event subscription is created, so the EventGridTrigger function must
// already exist (Azure/bicep#11656).
//
// The filter below is checked by tests/infra/test_eventgrid_filter.py against the constants the trigger uses
// (replication/events.py): event type ResourceWriteSuccess, data.operationName = restore point write.
targetScope = 'resourceGroup'

@description('Name of the Microsoft.Resources.Subscriptions system topic to create in this resource group, or of the existing one to reuse (see useExistingSystemTopic).')
param systemTopicName string

@description('true: reuse the existing system topic systemTopicName (a subscription may have only one); it must already carry deadLetterIdentityId.')
param useExistingSystemTopic bool = false

@description('Resource id of the function app (in the app subscription).')
param functionAppId string

@description('Name of the EventGridTrigger function.')
param functionName string = 'eventgrid_restore_point_written'

@description('Name of the event subscription.')
param eventSubscriptionName string

@description('Resource id of the storage account that receives dead-lettered events.')
param deadLetterStorageAccountId string

@description('Blob container for dead-lettered events.')
param deadLetterContainerName string

@description('Resource id of the user-assigned identity Event Grid uses to write dead letters (Storage Blob Data Contributor on that container only).')
param deadLetterIdentityId string

@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

param tags object = {}

resource newTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (!useExistingSystemTopic) {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${deadLetterIdentityId}': {}
    }
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource existingTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = if (useExistingSystemTopic) {
  name: systemTopicName
}

var eventSubscriptionProperties = {
  eventDeliverySchema: 'EventGridSchema'
  destination: {
    endpointType: 'AzureFunction'
    properties: {
      resourceId: '${functionAppId}/functions/${functionName}'
      maxEventsPerBatch: 1
      preferredBatchSizeInKilobytes: 64
    }
  }
  filter: {
    includedEventTypes: [
      'Microsoft.Resources.ResourceWriteSuccess'
    ]
    advancedFilters: [
      {
        operatorType: 'StringIn'
        key: 'data.operationName'
        values: [
          'Microsoft.Compute/restorePointCollections/restorePoints/write'
        ]
      }
    ]
  }
  retryPolicy: {
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
  deadLetterWithResourceIdentity: {
    identity: {
      type: 'UserAssigned'
      userAssignedIdentity: deadLetterIdentityId
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: {
        resourceId: deadLetterStorageAccountId
        blobContainerName: deadLetterContainerName
      }
    }
  }
}

resource newTopicSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (!useExistingSystemTopic) {
  parent: newTopic
  name: eventSubscriptionName
  properties: eventSubscriptionProperties
}

resource existingTopicSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (useExistingSystemTopic) {
  parent: existingTopic
  name: eventSubscriptionName
  properties: eventSubscriptionProperties
}

output systemTopicId string = useExistingSystemTopic ? existingTopic.id : newTopic.id
