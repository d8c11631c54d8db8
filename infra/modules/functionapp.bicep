// Flex Consumption plan and Function App (Python, version a parameter) running as the user-assigned identity.
// Every connection is identity based: the runtime storage (AzureWebJobsStorage__*), the deployment package
// container, Application Insights (Entra auth), ARM (AZURE_CLIENT_ID) and, with durableBackend 'dts', the
// Durable Task Scheduler (Authentication=ManagedIdentity in its connection string).
param location string
param tags object
param name string
param planName string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param identityId string
param identityClientId string

@description('The replication policy as JSON text (app setting REPLICATION_POLICY).')
param replicationPolicyJson string
param sweepSchedule string
@description('Further app settings ([{ name, value }]) whose defaults live in code; set only when given.')
param optionalAppSettings array = []
param instanceMemoryMB int
param maximumInstanceCount int

@description('Python version of the Flex Consumption runtime (functionAppConfig.runtime.version).')
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string

@description('Durable Functions backend: azureStorage (host.json as it is) or dts (Durable Task Scheduler, wired by app settings below).')
@allowed([
  'azureStorage'
  'dts'
])
param durableBackend string

@description('Scheduler endpoint (https://<name>.<region>.durabletask.io); only with durableBackend dts.')
param dtsEndpoint string = ''

@description('Task hub in that scheduler; only with durableBackend dts.')
param dtsTaskHubName string = ''

@description('Extension bundle with durableBackend dts: preview (Microsoft.Azure.Functions.ExtensionBundle.Preview [4.29.0, 5.0.0), what the Learn quickstart prescribes for non-.NET apps) or hostJson (the GA bundle host.json names).')
@allowed([
  'preview'
  'hostJson'
])
param dtsExtensionBundle string = 'preview'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var useDts = durableBackend == 'dts'

// Durable Task Scheduler: app settings override host.json's durableTask section (AzureFunctionsJobHost__<path>,
// Learn "host.json reference": override host.json values), so one host.json serves both backends and the
// choice is made at deploy time. Names and formats from Learn "Configure managed identity for Durable Task
// Scheduler" (DURABLE_TASK_SCHEDULER_CONNECTION_STRING, TASKHUB_NAME) and the quickstart's host.json
// (storageProvider.type azureManaged, connectionStringName, hubName %TASKHUB_NAME%).
var dtsSettings = useDts ? [
  {
    name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__type'
    value: 'azureManaged'
  }
  {
    name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName'
    value: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
  }
  {
    name: 'AzureFunctionsJobHost__extensions__durableTask__hubName'
    value: '%TASKHUB_NAME%'
  }
  {
    name: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
    value: 'Endpoint=${dtsEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  }
  {
    name: 'TASKHUB_NAME'
    value: dtsTaskHubName
  }
] : []
var dtsBundleSettings = (useDts && dtsExtensionBundle == 'preview') ? [
  {
    name: 'AzureFunctionsJobHost__extensionBundle__id'
    value: 'Microsoft.Azure.Functions.ExtensionBundle.Preview'
  }
  {
    name: 'AzureFunctionsJobHost__extensionBundle__version'
    value: '[4.29.0, 5.0.0)'
  }
] : []

// App settings, all identity based:
// - AzureWebJobsStorage__*: Functions runtime storage (Durable Functions task hub) over the managed identity.
// - APPLICATIONINSIGHTS_*: Application Insights with local auth off; the SDK authenticates with the identity.
// - AZURE_CLIENT_ID, REPLICATION_POLICY, SWEEP_SCHEDULE: read by replication/settings.py and the bindings
//   (%SWEEP_SCHEDULE% in the timer trigger).
var appSettings = concat(optionalAppSettings, dtsSettings, dtsBundleSettings, [
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'REPLICATION_POLICY'
    value: replicationPolicyJson
  }
  {
    name: 'SWEEP_SCHEDULE'
    value: sweepSchedule
  }
])

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Zone redundancy is not needed: the app keeps no state of its own (Durable Functions state is in storage, the truth is in Azure), so a zone outage only delays copies.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid push delivery and the HTTP API need a reachable endpoint; private networking (VNet + private endpoints) is not part of this deployment. HTTP functions require function keys.
  // checkov:skip=CKV_AZURE_17: Client certificates are not used: callers authenticate with function keys, and Event Grid's AzureFunction delivery does not present a client certificate.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero by design; a lost instance is replaced on demand and Durable Functions resumes from storage.
  // checkov:skip=CKV_AZURE_213: Health check (siteConfig.healthCheckPath) is an App Service feature not offered on Flex Consumption; the Functions host is monitored by the platform and Application Insights.
  name: name
  location: location
  // azd finds the app to deploy the `api` service of azure.yaml by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      ftpsState: 'Disabled'
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// No publishing with basic (user/password) credentials: azd deploys with Entra tokens.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output uri string = 'https://${site.properties.defaultHostName}'
