// Restore point replication: Azure Functions (Flex Consumption, Python 3.11-3.13, Durable Functions on Azure
// Storage or the Durable Task Scheduler) and the least privilege it needs. Provisioned by `azd up`; the Event Grid subscription is created afterwards by the
// postdeploy hook (scripts/postdeploy.sh) from infra/eventgrid.bicep, because its AzureFunction destination
// must already exist when the subscription is created.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to derive a short unique token for resource names.')
param environmentName string

@minLength(1)
@description('Region of the function app and its resources (a region that offers Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Name of the resource group to create; empty gives rg-<environmentName>.')
param resourceGroupName string = ''

@description('The replication policy (the JSON object the app reads from REPLICATION_POLICY). The preprovision hook fills it from the policy file.')
param replicationPolicy object

@description('Where source restore point collections live: [{ subscriptionId, resourceGroup? }]. No resourceGroup means the whole subscription. The identity gets read-only access here.')
@minLength(1)
param sourceScopes array

@description('Where target (copied) collections are created: [{ subscriptionId, resourceGroup? }]. The identity may create, update and delete restore point collections and restore points here.')
@minLength(1)
param targetScopes array

@description('NCRONTAB schedule of the timer sweep (app setting SWEEP_SCHEDULE).')
param sweepSchedule string = '0 0 */6 * * *'

@description('NCRONTAB schedule of the protection check (app setting PROTECTION_SCHEDULE): RPO gauge, RPO events.')
param protectionSchedule string = '0 */15 * * * *'

@description('E-mail address the alerts go to (action group). Empty: no alerts are created.')
param alertEmail string = ''

@description('Create an Event Grid custom topic for the app\'s state-change CloudEvents (EVENTGRID_TOPIC_ENDPOINT).')
param eventsTopic bool = false

@description('Optional MAX_COPY_ATTEMPTS app setting; empty leaves the default in code.')
param maxCopyAttempts string = ''

@description('Optional ON_COPY_FAILURE app setting (continue|stop); empty leaves the default in code.')
@allowed([
  ''
  'continue'
  'stop'
])
param onCopyFailure string = ''

@description('Optional POLL_MAX_INTERVAL_MINUTES app setting; empty leaves the default in code.')
param pollMaxIntervalMinutes string = ''

@description('Optional MAX_CONCURRENT_COPIES_PER_REGION app setting (copies in flight per subscription and target region; 0 or empty: no ceiling).')
param maxConcurrentCopiesPerRegion string = ''

@description('Resource ids of existing Microsoft.Resources.Subscriptions system topics to reuse (a subscription may have only one). Read by the postdeploy hook; a source subscription not listed here gets its existing topic discovered, or a new one.')
param existingEventGridSystemTopicIds array = []

@description('Event Grid delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param eventGridMaxDeliveryAttempts int = 30

@description('Event Grid event time to live, in minutes, before an undelivered event is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventGridEventTimeToLiveMinutes int = 1440

@description('Flex Consumption instance memory size in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption maximum instance count.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Python version of the Function App. Default: the newest Python the Flex Consumption plan offers (Learn: Get-AzFunctionAppFlexConsumptionRuntime / az functionapp list-flexconsumption-runtimes list python 3.13, 3.12, 3.11, 3.10); the app supports 3.11-3.13.')
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.13'

@description('Durable Functions backend: azureStorage (the default; task hub in the app\'s storage account) or dts (a Durable Task Scheduler and task hub created here; app settings override host.json).')
@allowed([
  'azureStorage'
  'dts'
])
param durableBackend string = 'azureStorage'

@description('Durable Task Scheduler SKU (durableBackend dts): Consumption (pay per action) or Dedicated (capacity units).')
@allowed([
  'Consumption'
  'Dedicated'
])
param dtsSkuName string = 'Consumption'

@description('Capacity units of a Dedicated scheduler (3 for high availability); a string, as azd passes environment values.')
@allowed([
  '1'
  '2'
  '3'
])
param dtsCapacity string = '1'

@description('Extension bundle with durableBackend dts: preview (the Preview bundle the Learn DTS quickstart prescribes for non-.NET apps, set by app settings) or hostJson (host.json\'s GA bundle, unchanged).')
@allowed([
  'preview'
  'hostJson'
])
param dtsExtensionBundle string = 'preview'

@description('Object id of a user or group given Durable Task Data Contributor on the task hub, for the DTS dashboard (durableBackend dts); empty: nobody.')
param dtsDashboardPrincipalId string = ''

@description('Type of dtsDashboardPrincipalId.')
@allowed([
  'User'
  'Group'
])
param dtsDashboardPrincipalType string = 'User'

var useDts = durableBackend == 'dts'
var dtsTaskHubName = 'replication'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-rpr-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 12)}'
var deadLetterContainerName = 'eventgrid-deadletter'

// App settings whose defaults live in code: set only when a value is given.
var maxCopyAttemptsSetting = empty(maxCopyAttempts) ? [] : [
  {
    name: 'MAX_COPY_ATTEMPTS'
    value: maxCopyAttempts
  }
]
var onCopyFailureSetting = empty(onCopyFailure) ? [] : [
  {
    name: 'ON_COPY_FAILURE'
    value: onCopyFailure
  }
]
var pollMaxIntervalSetting = empty(pollMaxIntervalMinutes) ? [] : [
  {
    name: 'POLL_MAX_INTERVAL_MINUTES'
    value: pollMaxIntervalMinutes
  }
]
var maxConcurrentCopiesSetting = empty(maxConcurrentCopiesPerRegion) ? [] : [
  {
    name: 'MAX_CONCURRENT_COPIES_PER_REGION'
    value: maxConcurrentCopiesPerRegion
  }
]
var eventsTopicSetting = eventsTopic ? [
  {
    name: 'EVENTGRID_TOPIC_ENDPOINT'
    value: eventsTopicModule.outputs.endpoint
  }
] : []
var protectionScheduleSetting = [
  {
    name: 'PROTECTION_SCHEDULE'
    value: protectionSchedule
  }
]
var optionalAppSettings = concat(maxCopyAttemptsSetting, onCopyFailureSetting, pollMaxIntervalSetting, maxConcurrentCopiesSetting, eventsTopicSetting, protectionScheduleSetting)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    appIdentityName: 'id-rpr-${resourceToken}'
    eventGridIdentityName: 'id-rpr-eg-${resourceToken}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-rpr-${resourceToken}'
    applicationInsightsName: 'appi-rpr-${resourceToken}'
  }
}

// The dashboard's views in Azure Monitor, over the app's Application Insights telemetry (issue 13).
module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: 'rpr-${resourceToken}'
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    storageAccountName: 'strpr${resourceToken}'
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
  }
}

module appRbac 'modules/app-rbac.bicep' = {
  name: 'app-rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    deadLetterContainerName: deadLetterContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.appPrincipalId
    eventGridPrincipalId: identity.outputs.eventGridPrincipalId
  }
}

module durableTaskScheduler 'modules/durable-task-scheduler.bicep' = if (useDts) {
  name: 'durable-task-scheduler'
  scope: rg
  params: {
    location: location
    tags: tags
    schedulerName: 'dts-rpr-${resourceToken}'
    taskHubName: dtsTaskHubName
    appPrincipalId: identity.outputs.appPrincipalId
    skuName: dtsSkuName
    skuCapacity: int(dtsCapacity)
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    dashboardPrincipalId: dtsDashboardPrincipalId
    dashboardPrincipalType: dtsDashboardPrincipalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    name: functionAppName
    planName: 'plan-rpr-${resourceToken}'
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityId: identity.outputs.appIdentityId
    identityClientId: identity.outputs.appClientId
    replicationPolicyJson: string(replicationPolicy)
    sweepSchedule: sweepSchedule
    optionalAppSettings: optionalAppSettings
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    pythonVersion: pythonVersion
    durableBackend: durableBackend
    dtsEndpoint: useDts ? durableTaskScheduler.outputs.endpoint : ''
    dtsTaskHubName: useDts ? durableTaskScheduler.outputs.taskHubName : ''
    dtsExtensionBundle: dtsExtensionBundle
  }
  // The runtime needs its storage, App Insights (and, with dts, task hub) roles before it starts.
  dependsOn: [
    appRbac
    durableTaskScheduler
  ]
}

module eventsTopicModule 'modules/events-topic.bicep' = if (eventsTopic) {
  name: 'events-topic'
  scope: rg
  params: {
    location: location
    tags: tags
    topicName: 'evgt-rpr-${resourceToken}'
    appPrincipalId: identity.outputs.appPrincipalId
  }
}

module alerts 'modules/alerts.bicep' = if (!empty(alertEmail)) {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: 'rpr-${resourceToken}'
    alertEmail: alertEmail
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    storageAccountName: storage.outputs.name
    deadLetterContainerName: deadLetterContainerName
  }
}

// Custom roles live in the subscription of the first target scope (one of their assignable scopes).
module restorePointRoles 'modules/restore-point-roles.bicep' = {
  name: 'restore-point-roles-${resourceToken}'
  scope: subscription(targetScopes[0].subscriptionId)
  params: {
    environmentName: environmentName
    resourceToken: resourceToken
    principalId: identity.outputs.appPrincipalId
    sourceScopes: sourceScopes
    targetScopes: targetScopes
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_SUBSCRIPTION_ID string = subscription().subscriptionId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_ID string = functionApp.outputs.id
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output AZURE_CLIENT_ID string = identity.outputs.appClientId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_STORAGE_ACCOUNT_ID string = storage.outputs.id
output EVENTGRID_DEADLETTER_CONTAINER string = deadLetterContainerName
output EVENTGRID_IDENTITY_ID string = identity.outputs.eventGridIdentityId
output EVENTGRID_SOURCE_SUBSCRIPTION_IDS array = restorePointRoles.outputs.sourceSubscriptionIds
output EVENTGRID_EXISTING_SYSTEM_TOPIC_IDS array = existingEventGridSystemTopicIds
output EVENTGRID_MAX_DELIVERY_ATTEMPTS int = eventGridMaxDeliveryAttempts
output EVENTGRID_EVENT_TTL_MINUTES int = eventGridEventTimeToLiveMinutes
output SOURCE_ROLE_DEFINITION_ID string = restorePointRoles.outputs.sourceRoleDefinitionId
output TARGET_ROLE_DEFINITION_ID string = restorePointRoles.outputs.targetRoleDefinitionId
output EVENTGRID_TOPIC_ENDPOINT string = eventsTopic ? eventsTopicModule.outputs.endpoint : ''
output ALERT_ACTION_GROUP_ID string = !empty(alertEmail) ? alerts.outputs.actionGroupId : ''
output DURABLE_BACKEND string = durableBackend
output PYTHON_VERSION string = pythonVersion
output DTS_SCHEDULER_NAME string = useDts ? durableTaskScheduler.outputs.schedulerName : ''
output DTS_ENDPOINT string = useDts ? durableTaskScheduler.outputs.endpoint : ''
output DTS_TASK_HUB_NAME string = useDts ? durableTaskScheduler.outputs.taskHubName : ''
