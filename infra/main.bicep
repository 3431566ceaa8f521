targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names and tags (azd-env-name) every resource.')
param environmentName string

@minLength(1)
@description('Region for every resource: one that offers the Flex Consumption plan (the list of Azure-Samples/functions-quickstart-dotnet-azd; az functionapp list-flexconsumption-locations has the current one).')
@allowed([
  'australiaeast'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'northcentralus'
  'northeurope'
  'southcentralus'
  'southeastasia'
  'swedencentral'
  'uksouth'
  'westcentralus'
  'westeurope'
  'westus2'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of whoever runs azd up; gets data access to the storage account and the vault. Empty assigns nothing.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

@minLength(1)
@description('Client id of the HubSpot app (HubSpot developer account, app, Auth tab).')
param hubSpotClientId string

@secure()
@minLength(1)
@description('Client secret of the HubSpot app. Stored in Key Vault only; the app reads it through a Key Vault reference.')
param hubSpotClientSecret string

@description('Comma-separated HubSpot account ids that may install the app (12345678,23456789). Empty: ANY HubSpot account may install it and then post beacons through this relay; set it unless the app is listed for every account.')
param allowedPortals string = ''

@description('Comma-separated browser origins whose pages may post beacons, e.g. https://www.example.com,https://video.example.com; * allows any.')
param playerOrigins string = '*'

@description('Comma-separated hosts whose https pages the relay\'s oEmbed endpoint may embed (video.example.com, *.example.com); empty embeds nothing.')
param oembedHosts string = ''

@description('Email address for the alert on poisoned queue messages; empty: the alert fires in the portal only.')
param alertEmail string = ''

@description('A portal whose events reach HubSpot this long after they were due (a d.hh:mm:ss time span) logs a warning, and the backlog alert fires on it.')
param backlogAlertAfter string = '00:30:00'

@description('The delivery failure alert fires when more than this percentage of a 15-minute window\'s decided events are dead-lettered instead of delivered.')
@minValue(1)
@maxValue(100)
param deliveryFailureAlertPercent int = 5

@description('Most instances the relay may scale out to (Flex Consumption takes 40 at the least).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

var tags = { 'azd-env-name': environmentName }
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))

// One source for the relay's settings: the sample the local run uses. Local-only values are left out
// and the ones that depend on this deployment are set below.
var sampleSettings = loadJsonContent('../local.settings.sample.json').Values
var localOnlySettings = [
  'AzureWebJobsStorage'
  'FUNCTIONS_WORKER_RUNTIME' // Flex Consumption takes the runtime from functionAppConfig
  'HubSpot__ClientId'
  'HubSpot__ClientSecret'
  'HubSpot__AppId' // the setup command's (relay setup), run by an operator: the app never reads them
  'HubSpot__DeveloperApiKey'
  'HubSpot__RedirectUri'
  'HubSpot__DryRunFile'
  'Relay__AllowedOrigins'
  'HubSpot__RefreshInterval' // the local host's; on Azure the TokenRefreshSchedule timer
  'Relay__ScheduleSweepInterval' // the local host's; on Azure the ScheduleSweepSchedule timer
  'Relay__PublicBaseUrl' // the relay's own address, known only once deployed: the app takes it from HubSpot__RedirectUri
  'Relay__OEmbedHosts'
]
var sharedSettings = toObject(filter(items(sampleSettings), setting => !contains(localOnlySettings, setting.key)), setting => setting.key, setting => setting.value)
var beaconQueue = sampleSettings.Relay__BeaconQueue
var scheduleQueue = sampleSettings.Relay__ScheduleQueue
var names = {
  identity: 'id-relay-${resourceToken}'
  storage: 'st${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  keyRingKey: 'relay-key-ring'
  plan: 'plan-${resourceToken}'
  app: 'func-relay-${resourceToken}'
  deploymentContainer: 'deployment-package'
}
var allowedOrigins = map(split(playerOrigins, ','), origin => trim(origin))

resource resourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity/user-assigned-identity.bicep' = {
  scope: resourceGroup
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  scope: resourceGroup
  params: {
    name: names.storage
    location: location
    tags: tags
    containers: [names.deploymentContainer]
    // The Functions host moves a message to <queue>-poison after maxDequeueCount (host.json).
    queues: [beaconQueue, '${beaconQueue}-poison', scheduleQueue, '${scheduleQueue}-poison']
    tables: [sampleSettings.Relay__SessionsTable, sampleSettings.Relay__TokensTable, sampleSettings.Relay__DeadLettersTable, sampleSettings.Relay__MediaObjectsTable, sampleSettings.Relay__PoisonedTable, sampleSettings.Relay__KeysTable, sampleSettings.Relay__MetricsTable, sampleSettings.Relay__QuotasTable, sampleSettings.Relay__ScheduleTable, sampleSettings.Relay__ForgottenTable]
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  scope: resourceGroup
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
    alertEmail: alertEmail
    deliveryFailureAlertPercent: deliveryFailureAlertPercent
  }
}

module workbook 'core/monitor/workbook.bicep' = {
  scope: resourceGroup
  dependsOn: [monitoring]
  params: {
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

module vault 'core/security/key-vault.bicep' = {
  scope: resourceGroup
  params: {
    name: names.keyVault
    location: location
    tags: tags
  }
}

module clientSecret 'core/security/key-vault-secret.bicep' = {
  scope: resourceGroup
  dependsOn: [vault]
  params: {
    keyVaultName: names.keyVault
    name: 'hubspot-client-secret'
    value: hubSpotClientSecret
  }
}

module keyRingKey 'core/security/key-vault-key.bicep' = {
  scope: resourceGroup
  dependsOn: [vault]
  params: {
    keyVaultName: names.keyVault
    name: names.keyRingKey
  }
}

module access 'app/access.bicep' = {
  scope: resourceGroup
  dependsOn: [storage, monitoring, vault, keyRingKey]
  params: {
    storageAccountName: names.storage
    applicationInsightsName: names.applicationInsights
    keyVaultName: names.keyVault
    keyRingKeyName: names.keyRingKey
    relayIdentityName: names.identity
    relayPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    userQueues: [beaconQueue, '${beaconQueue}-poison', scheduleQueue, '${scheduleQueue}-poison']
    userContainer: names.deploymentContainer
    userTables: [sampleSettings.Relay__SessionsTable, sampleSettings.Relay__TokensTable, sampleSettings.Relay__DeadLettersTable, sampleSettings.Relay__MediaObjectsTable, sampleSettings.Relay__PoisonedTable, sampleSettings.Relay__MetricsTable, sampleSettings.Relay__QuotasTable, sampleSettings.Relay__ScheduleTable, sampleSettings.Relay__ForgottenTable]
  }
}

module relay 'app/relay.bicep' = {
  scope: resourceGroup
  // The host reads storage and the Key Vault reference as soon as it starts.
  dependsOn: [access]
  params: {
    planName: names.plan
    appName: names.app
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: names.deploymentContainer
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    relaySettings: union(sharedSettings, {
      HubSpot__ClientId: hubSpotClientId
      HubSpot__ClientSecret: '@Microsoft.KeyVault(SecretUri=${clientSecret.outputs.uri})'
      Relay__KeyRingKeyUri: keyRingKey.outputs.uri
      Relay__AllowedOrigins: join(allowedOrigins, ',')
      Relay__OEmbedHosts: oembedHosts
      Relay__BacklogWarningAfter: backlogAlertAfter
      HubSpot__AllowedPortals: join(map(filter(split(allowedPortals, ','), portal => !empty(trim(portal))), portal => trim(portal)), ',')
    })
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup.name
output AZURE_FUNCTION_APP_NAME string = relay.outputs.name
output RELAY_WORKBOOK_URL string = workbook.outputs.url
output RELAY_BEACON_URL string = '${relay.outputs.baseUrl}/api/beacons'
output RELAY_OAUTH_CALLBACK_URL string = '${relay.outputs.baseUrl}/api/oauth/callback'
output RELAY_INSTALL_URL string = '${relay.outputs.baseUrl}/api/oauth/install'
