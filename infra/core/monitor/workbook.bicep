@description('The Azure Monitor workbook of the relay\'s delivery health, per portal, from the counters it exports to Application Insights.')
param applicationInsightsName string
param location string
param tags object = {}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Counters reach customMetrics as the Azure Monitor exporter writes them: name = the instrument's, valueSum = the
// count of the export period, customDimensions = the tags (hubspot.portal_id, reason, event.kind, http.status_class).
var portal = 'Portal = tostring(customDimensions["hubspot.portal_id"])'
var counted = [
  {
    title: 'Beacons accepted and requests refused, by reason'
    names: ['relay.beacons.accepted', 'relay.requests.refused']
    by: 'Reason = tostring(customDimensions["reason"])'
  }
  {
    title: 'Sessions opened, closed (by reason) and held (viewer not a contact yet)'
    names: ['relay.sessions.opened', 'relay.sessions.closed', 'relay.sessions.held']
    by: 'Reason = tostring(customDimensions["reason"])'
  }
  {
    title: 'Events decided, delivered, dead-lettered and dropped, by kind'
    names: ['relay.events.decided', 'relay.events.delivered', 'relay.events.dead_lettered', 'relay.events.dropped']
    by: 'Kind = tostring(customDimensions["event.kind"])'
  }
  {
    title: 'HubSpot answers by status, and media objects made'
    names: ['relay.hubspot.answers', 'relay.media_objects.made']
    by: 'Status = tostring(customDimensions["http.status_class"])'
  }
  {
    title: 'Poisoned queue messages (relay poison lists them)'
    names: ['relay.messages.poisoned']
    by: ''
  }
]

var header = {
  type: 1
  content: {
    json: '## FunctionsRelay delivery health\nPer HubSpot portal, from the counters every instance exports (the operator view at `/api/operator` and `relay status` show the same, with storage\'s state). Latency: Azure Monitor exports a histogram as sum, count, min and max per period, not its buckets, so p50 and p95 here are of the periods\' means (approximate); the operator view has the exact bucketed figures.'
  }
}

var timeRange = {
  type: 9
  content: {
    version: 'KqlParameterItem/1.0'
    parameters: [
      {
        id: 'time-range'
        version: 'KqlParameterItem/1.0'
        name: 'TimeRange'
        type: 4
        isRequired: true
        value: { durationMs: 86400000 }
        typeSettings: { allowCustom: true }
      }
    ]
  }
}

var countTables = [for table in counted: {
  type: 3
  content: {
    version: 'KqlItem/1.0'
    title: table.title
    query: 'customMetrics | where name in (${join(map(table.names, name => '"${name}"'), ', ')}) | extend ${portal}${empty(table.by) ? '' : ', ${table.by}'} | summarize Count = sum(valueSum) by Portal, name${empty(table.by) ? '' : ', ${split(table.by, ' ')[0]}'} | order by Portal asc, name asc'
    queryType: 0
    resourceType: 'microsoft.insights/components'
    timeContextFromParameter: 'TimeRange'
    visualization: 'table'
  }
}]

var latencyTable = {
  type: 3
  content: {
    version: 'KqlItem/1.0'
    title: 'Delivery latency, s (p50 and p95 of the export periods\' means; max)'
    query: 'customMetrics | where name == "relay.delivery.latency" and valueCount > 0 | extend ${portal} | summarize Events = sum(valueCount), p50 = percentile(valueSum / valueCount, 50), p95 = percentile(valueSum / valueCount, 95), Max = max(valueMax) by Portal | order by Portal asc'
    queryType: 0
    resourceType: 'microsoft.insights/components'
    timeContextFromParameter: 'TimeRange'
    visualization: 'table'
  }
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsights.id, 'functions-relay-delivery-health')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'FunctionsRelay delivery health'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: string({
      version: 'Notebook/1.0'
      items: concat([header, timeRange], countTables, [latencyTable])
      fallbackResourceIds: [applicationInsights.id]
    })
  }
}

output url string = '${environment().portal}/#@${tenant().tenantId}/resource${workbook.id}/workbook'
