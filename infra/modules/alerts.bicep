// Alerts (issue 13): an action group that e-mails `alertEmail`, and scheduled-query rules over Application
// Insights and the Log Analytics workspace for what a person must know about:
// - rpoMissed: a lane's RPO objective was missed (the app logs "RPO objective missed" from its protection check,
//   functions/state_events.py; the rpr.rpo.age gauge carries the ages);
// - copyGivenUp: a copy failed every attempt (the app logs "copy given up", functions/activities.py copy_outcome);
// - deadLetters: Event Grid dead-lettered a restore point event (a blob written to the dead-letter container:
//   StorageBlobLogs from the diagnostic setting below; Learn "Event Grid dead letter and retry policies");
// - failedOrchestrations: an orchestration failed (the Durable extension's tracking traces, category
//   Host.Triggers.DurableTask with prop__state Failed; Learn "Diagnostics in Durable Functions").
// Scheduled-query rules API: Microsoft.Insights/scheduledQueryRules 2023-03-15-preview (Learn "Create a log
// search alert with a Bicep file").
param location string
param tags object
param namePrefix string
param alertEmail string
param applicationInsightsId string
param logAnalyticsId string
param storageAccountName string
param deadLetterContainerName string

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'rpr-alerts'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

// Blob writes of the storage account go to the workspace, so a dead-lettered event (a blob Event Grid writes
// into the dead-letter container) can be alerted on.
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'blob-writes-to-workspace'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
    ]
  }
}

var rules = [
  {
    name: 'rpo-missed'
    displayName: 'Restore point replication: RPO objective missed'
    description: 'A source collection has no usable copy in a region recent enough for its objective (rpoHours). See GET /api/protection.'
    severity: 1
    scope: applicationInsightsId
    query: 'traces | where message startswith "RPO objective missed" | project timestamp, message'
  }
  {
    name: 'copy-given-up'
    displayName: 'Restore point replication: a copy was given up'
    description: 'A restore point copy failed every attempt; its reason is in the message and in GET /api/protection.'
    severity: 2
    scope: applicationInsightsId
    query: 'traces | where message startswith "copy given up" | project timestamp, message'
  }
  {
    name: 'eventgrid-dead-letters'
    displayName: 'Restore point replication: Event Grid dead-lettered events'
    description: 'Event Grid could not deliver restore point events to the app; the sweep catches up, but look at why.'
    severity: 2
    scope: logAnalyticsId
    query: 'StorageBlobLogs | where OperationName in ("PutBlob", "PutBlockList", "AppendBlock") | where ObjectKey has "/${deadLetterContainerName}/" | project TimeGenerated, ObjectKey'
  }
  {
    name: 'failed-orchestrations'
    displayName: 'Restore point replication: an orchestration failed'
    description: 'A replication, lane, copy or sweep orchestration ended Failed (a bug or a platform failure).'
    severity: 2
    scope: applicationInsightsId
    query: 'traces | where customDimensions.Category == "Host.Triggers.DurableTask" | where tostring(customDimensions.prop__state) == "Failed" | project timestamp, message'
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in rules: {
  name: 'alert-${namePrefix}-${rule.name}'
  location: location
  tags: tags
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      rule.scope
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

output actionGroupId string = actionGroup.id
output ruleNames array = [for (rule, i) in rules: alertRules[i].name]
