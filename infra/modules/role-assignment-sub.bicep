// Assigns one role (by definition GUID) to a principal at the subscription this module is deployed to.
targetScope = 'subscription'

param principalId string
@description('GUID (name) of the role definition.')
param roleDefinitionGuid string
param assignmentDescription string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionGuid)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: assignmentDescription
  }
}
