@description('Log Analytics workspace and workspace-based Application Insights, both accepting Microsoft Entra ID authentication only.')
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@description('Where the alerts are mailed; empty: they fire in the portal only.')
param alertEmail string = ''

@description('The delivery failure alert fires above this percentage of dead-lettered events in 15 minutes.')
param deliveryFailureAlertPercent int = 5

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

// The relay's own warning lines and counters, as the Azure Monitor exporter writes them: log lines to traces (the
// formatted message), counters to customMetrics (name = the instrument's, valueSum = the period's count).
var relayAlerts = [
  {
    key: 'token'
    displayName: 'FunctionsRelay: a portal is disconnected'
    description: 'HubSpot refused a portal\'s refresh token: its events wait (and are dead-lettered after HubSpot__GiveUpWithoutTokenAfter) until the account installs the app again. relay status names the portal.'
    severity: 1
    query: 'traces | where message startswith "HubSpot refused the refresh token of portal"'
    metricMeasureColumn: ''
    timeAggregation: 'Count'
    threshold: 0
  }
  {
    key: 'backlog'
    displayName: 'FunctionsRelay: a portal is behind'
    description: 'An event reached HubSpot later than Relay__BacklogWarningAfter after it was due: the portal is over its HubSpot budget or HubSpot is slow. relay status shows its backlog in calls and minutes at its pace.'
    severity: 2
    query: 'traces | where message has "is behind: an event reached HubSpot"'
    metricMeasureColumn: ''
    timeAggregation: 'Count'
    threshold: 0
  }
  {
    key: 'failures'
    displayName: 'FunctionsRelay: delivery failures'
    description: 'More than the threshold\'s share of events went to the dead letters instead of HubSpot: HubSpot refuses them (a changed API, a missing scope). relay deadletters lists them and HubSpot\'s answers.'
    severity: 2
    query: 'customMetrics | where name in ("relay.events.delivered", "relay.events.dead_lettered") | summarize Failed = sumif(valueSum, name == "relay.events.dead_lettered"), All = sum(valueSum) | extend FailurePercent = iff(All == 0, 0.0, 100.0 * Failed / All)'
    metricMeasureColumn: 'FailurePercent'
    timeAggregation: 'Maximum'
    threshold: deliveryFailureAlertPercent
  }
]

resource relayAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for alert in relayAlerts: {
  name: 'alert-${alert.key}-${applicationInsightsName}'
  location: location
  tags: tags
  properties: {
    displayName: alert.displayName
    description: alert.description
    severity: alert.severity
    enabled: true
    scopes: [applicationInsights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        union({
          query: alert.query
          timeAggregation: alert.timeAggregation
          operator: 'GreaterThan'
          threshold: alert.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }, empty(alert.metricMeasureColumn) ? {} : { metricMeasureColumn: alert.metricMeasureColumn })
      ]
    }
    actions: {
      actionGroups: empty(alertEmail) ? [] : [operators.id]
    }
  }
}]

output applicationInsightsName string = applicationInsights.name
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsWorkspaceId string = logAnalytics.id
