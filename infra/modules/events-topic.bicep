// Event Grid custom topic for the app's state-change CloudEvents (replication/cloudevents.py), created when
// main.bicep's `eventsTopic` is true. CloudEvents 1.0 input schema; local (key) auth off: the app publishes
// with its managed identity, which holds EventGrid Data Sender on this topic only (Learn "Authenticate
// publishing clients using Microsoft Entra ID"; role d5a91429-5739-47e2-a06b-3470a27159e7).
param location string
param tags object
param topicName string
param appPrincipalId string

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  // checkov:skip=CKV_AZURE_193: The Flex Consumption app has no fixed outbound address or VNet here, so the topic accepts public traffic; publishing still needs an Entra token with EventGrid Data Sender (local auth is off).
  name: topicName
  location: location
  tags: tags
  // Not used by the topic today (no delivery to Azure resources from it); present for Event Grid's own
  // identity-based delivery, should a subscription need it (checkov CKV_AZURE_191).
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    minimumTlsVersionAllowed: '1.2'
  }
}

resource appSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: topic
  name: guid(topic.id, appPrincipalId, eventGridDataSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = topic.properties.endpoint
output id string = topic.id
