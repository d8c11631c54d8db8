// Durable Task Scheduler (DURABLE_BACKEND=dts): a scheduler, one task hub for this app, and the app's
// user-assigned identity as Durable Task Data Contributor on that task hub only (task hub scope is the
// least privilege the Learn page "Configure managed identity for Durable Task Scheduler" recommends;
// "most Durable Functions apps require" this role: the app both runs orchestrations and manages them
// through the durable client). Optionally one operator principal gets the same role for the DTS dashboard.
param location string
param tags object
param schedulerName string
param taskHubName string
param appPrincipalId string

@description('Scheduler SKU: Consumption (pay per action, up to 500 actions/s, history kept up to 30 days) or Dedicated (capacity units, up to 90 days).')
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string

@description('Capacity units of a Dedicated scheduler (1-3; 3 for high availability). Ignored for Consumption.')
@minValue(1)
@maxValue(3)
param skuCapacity int

@description('Client IP ranges (CIDR) the scheduler accepts; an empty list denies every caller. The app runs on Flex Consumption without VNet integration, so its outbound addresses are not fixed: 0.0.0.0/0, with access decided by Entra tokens and the data role.')
@minLength(1)
param ipAllowlist array

@description('Object id of a user or group that may use the DTS dashboard (Durable Task Data Contributor on the task hub); empty: nobody.')
param dashboardPrincipalId string

@allowed([
  'User'
  'Group'
])
param dashboardPrincipalType string

// Built-in role "Durable Task Data Contributor" (all data operations on schedulers and task hubs).
var durableTaskDataContributor = '0ad04412-c4d5-4796-b79c-f76d14c8d402'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: schedulerName
  location: location
  tags: tags
  properties: {
    ipAllowlist: ipAllowlist
    sku: skuName == 'Dedicated' ? {
      name: skuName
      capacity: skuCapacity
    } : {
      name: skuName
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

resource appDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: taskHub
  name: guid(taskHub.id, appPrincipalId, durableTaskDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource dashboardDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(dashboardPrincipalId)) {
  scope: taskHub
  name: guid(taskHub.id, dashboardPrincipalId, durableTaskDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
    principalId: dashboardPrincipalId
    principalType: dashboardPrincipalType
  }
}

output schedulerName string = scheduler.name
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
output taskHubId string = taskHub.id
