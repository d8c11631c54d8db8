// The Azure Monitor workbook (issue 13): the dashboard's views (GET /api/dashboard, functions/dashboard.py) over
// the telemetry the app sends Application Insights (functions/telemetry.py: the protection check's gauges, the copy
// counters, the log lines). Its content is infra/workbook.json, read here as text: the workbook's serializedData
// (Learn "Azure Workbooks Bicep templates": Microsoft.Insights/workbooks, kind 'shared', serializedData a string,
// sourceId the Application Insights resource its queries run against). tests/infra/test_workbook.py checks that
// every metric, dimension and log line the queries name is one the app emits.
param location string
param tags object
param namePrefix string
param applicationInsightsId string

var displayName = 'Restore point protection (${namePrefix})'

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID; derived, so a redeployment updates the same workbook.
  name: guid(resourceGroup().id, namePrefix, 'protection-workbook')
  location: location
  tags: union(tags, { 'hidden-title': displayName })
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: loadTextContent('../workbook.json')
  }
}

output workbookId string = workbook.id
