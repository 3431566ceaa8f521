@description('Log Analytics workspace and workspace-based Application Insights, both accepting Microsoft Entra ID authentication only.')
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@description('Where the poisoned-message alert is mailed; empty: the alert fires in the portal only.')
param alertEmail string = ''

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

resource operators 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${applicationInsightsName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'relay-ops'
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

// Every message the queue listener gives up on is logged by the relay ("Poisoned message ... portal, session, beacons")
// and counted (relay.messages.poisoned); either one in the last 5 minutes fires the alert.
resource poisonedMessages 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-poisoned-${applicationInsightsName}'
  location: location
  tags: tags
  properties: {
    displayName: 'FunctionsRelay: queue messages poisoned'
    description: 'The relay gave up on a queue message after its last attempt. List and put them back with: relay poison [--apply].'
    severity: 1
    enabled: true
    scopes: [applicationInsights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'union isfuzzy=true (traces | where message startswith "Poisoned message"), (customMetrics | where name == "relay.messages.poisoned")'
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
    actions: {
      actionGroups: empty(alertEmail) ? [] : [operators.id]
    }
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsWorkspaceId string = logAnalytics.id
