// Least privilege on restore points: two custom roles and their assignments.
//
// * "source" role: read restore point collections and restore points. Assigned at every source scope. A copy
//   only reads its source (the target PUT names the source restore point; Azure copies the data itself).
// * "target" role: what the app does to target collections and restore points: read, create or update the
//   target collection, start a copy (restore point write), poll it, delete a failed copy. The app never
//   deletes a collection, so the role cannot either. Assigned at every target scope.
//
// The action lists below are checked by tests/infra/test_role_actions.py against the Compute SDK calls the
// code makes: together they must equal exactly what the code needs, and the source role must stay read-only.
// No wildcards, no dataActions, never retrieveSasUris/beginGetAccess (they would hand out disk contents).
//
// Deployed at the subscription of the first target scope; assignableScopes are all source and target scopes.
targetScope = 'subscription'

param environmentName string
param resourceToken string
param principalId string
@description('[{ subscriptionId, resourceGroup? }]')
param sourceScopes array
@description('[{ subscriptionId, resourceGroup? }]')
param targetScopes array

var sourceRoleActions = [
  'Microsoft.Compute/restorePointCollections/read'
  'Microsoft.Compute/restorePointCollections/restorePoints/read'
]

var targetRoleActions = [
  'Microsoft.Compute/restorePointCollections/read'
  'Microsoft.Compute/restorePointCollections/write'
  'Microsoft.Compute/restorePointCollections/restorePoints/read'
  'Microsoft.Compute/restorePointCollections/restorePoints/write'
  'Microsoft.Compute/restorePointCollections/restorePoints/delete'
]

var sourceScopeIds = [for s in sourceScopes: empty(s.?resourceGroup ?? '') ? '/subscriptions/${s.subscriptionId}' : '/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}']
var targetScopeIds = [for s in targetScopes: empty(s.?resourceGroup ?? '') ? '/subscriptions/${s.subscriptionId}' : '/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}']
var allScopeIds = union(sourceScopeIds, targetScopeIds)
var sourceSubscriptionList = [for s in sourceScopes: s.subscriptionId]

var sourceRgScopes = filter(sourceScopes, s => !empty(s.?resourceGroup ?? ''))
var sourceSubScopes = filter(sourceScopes, s => empty(s.?resourceGroup ?? ''))
var targetRgScopes = filter(targetScopes, s => !empty(s.?resourceGroup ?? ''))
var targetSubScopes = filter(targetScopes, s => empty(s.?resourceGroup ?? ''))

var sourceRoleGuid = guid(subscription().id, 'restore-point-replication-source', environmentName, resourceToken)
var targetRoleGuid = guid(subscription().id, 'restore-point-replication-target', environmentName, resourceToken)

resource sourceRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: sourceRoleGuid
  properties: {
    roleName: 'Restore Point Replication Source Reader (${environmentName}-${resourceToken})'
    description: 'Read VM restore point collections and restore points that are copied to other regions.'
    type: 'CustomRole'
    permissions: [
      {
        actions: sourceRoleActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: allScopeIds
  }
}

resource targetRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: targetRoleGuid
  properties: {
    roleName: 'Restore Point Replication Target Writer (${environmentName}-${resourceToken})'
    description: 'Create, read and delete the copied (target) VM restore point collections and restore points.'
    type: 'CustomRole'
    permissions: [
      {
        actions: targetRoleActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: allScopeIds
  }
}

module sourceRgAssignments 'role-assignment-rg.bicep' = [for (s, i) in sourceRgScopes: {
  name: 'rpr-src-rg-${i}-${resourceToken}'
  scope: resourceGroup(s.subscriptionId, s.resourceGroup)
  params: {
    principalId: principalId
    roleDefinitionGuid: sourceRole.name
    assignmentDescription: 'Restore point replication (${environmentName}): read source restore points'
  }
}]

module sourceSubAssignments 'role-assignment-sub.bicep' = [for (s, i) in sourceSubScopes: {
  name: 'rpr-src-sub-${i}-${resourceToken}'
  scope: subscription(s.subscriptionId)
  params: {
    principalId: principalId
    roleDefinitionGuid: sourceRole.name
    assignmentDescription: 'Restore point replication (${environmentName}): read source restore points'
  }
}]

module targetRgAssignments 'role-assignment-rg.bicep' = [for (s, i) in targetRgScopes: {
  name: 'rpr-tgt-rg-${i}-${resourceToken}'
  scope: resourceGroup(s.subscriptionId, s.resourceGroup)
  params: {
    principalId: principalId
    roleDefinitionGuid: targetRole.name
    assignmentDescription: 'Restore point replication (${environmentName}): write target restore points'
  }
}]

module targetSubAssignments 'role-assignment-sub.bicep' = [for (s, i) in targetSubScopes: {
  name: 'rpr-tgt-sub-${i}-${resourceToken}'
  scope: subscription(s.subscriptionId)
  params: {
    principalId: principalId
    roleDefinitionGuid: targetRole.name
    assignmentDescription: 'Restore point replication (${environmentName}): write target restore points'
  }
}]

output sourceRoleDefinitionId string = sourceRole.id
output targetRoleDefinitionId string = targetRole.id
output sourceSubscriptionIds array = union(sourceSubscriptionList, [])
