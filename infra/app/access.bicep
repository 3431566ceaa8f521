@description('Role assignments, each scoped to the one resource it opens: the relay\'s identity gets what the Functions host and the relay need, the deploying user (optional) gets data access for troubleshooting.')
param storageAccountName string
param applicationInsightsName string
param keyVaultName string

@description('The Key Vault key that wraps the relay\'s Data Protection key ring: the relay may wrap and unwrap with it, nothing else.')
param keyRingKeyName string

@description('Name of the relay\'s identity; seeds the assignments\' names, which must be known before the deployment runs.')
param relayIdentityName string
param relayPrincipalId string

@description('Object id of the deploying user or principal; empty assigns nothing.')
param userPrincipalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param userPrincipalType string = 'User'

@description('The tables the deploying user may read and write (not the key ring that decrypts the portals\' tokens).')
param userTables array = []

@description('The queues the deploying user may read and write (the relay command puts dead letters and poisoned messages back on them).')
param userQueues array = []

@description('The blob container the deploying user may write (the deployment package); no other blob.')
param userContainer string = ''

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultCryptoServiceEncryptionUser: 'e147488a-f6f5-4113-8e2d-b22465e65bf6'
}

// Blob: deployment package and host leases; queue: beacons; table: sessions, tokens, dead letters.
var storageRoles = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource relayStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: {
  name: guid(storage.id, relayIdentityName, role)
  scope: storage
  properties: {
    principalId: relayPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource relayTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, relayIdentityName, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    principalId: relayPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

resource relaySecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, relayIdentityName, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: relayPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource keyRingKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' existing = {
  parent: vault
  name: keyRingKeyName
}

// Read the key's metadata, wrap and unwrap: what Data Protection's key ring needs of it.
resource relayKeyRing 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyRingKey.id, relayIdentityName, roles.keyVaultCryptoServiceEncryptionUser)
  scope: keyRingKey
  properties: {
    principalId: relayPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoServiceEncryptionUser)
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource userTableScopes 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = [for table in userTables: {
  parent: tableService
  name: table
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource userQueueScopes 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [for queue in userQueues: {
  parent: queueService
  name: queue
}]

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource userContainerScope 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = if (!empty(userContainer)) {
  parent: blobService
  name: empty(userContainer) ? 'none' : userContainer
}

// The user's storage roles each cover only what they name: the deployment container, the relay's queues, its tables but the key ring.
resource userBlobAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId) && !empty(userContainer)) {
  name: guid(storage.id, userPrincipalId, roles.storageBlobDataOwner, userContainer)
  scope: userContainerScope
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource userQueueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queue, i) in (empty(userPrincipalId) ? [] : userQueues): {
  name: guid(storage.id, userPrincipalId, roles.storageQueueDataContributor, queue)
  scope: userQueueScopes[i]
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}]

resource userTableAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (table, i) in (empty(userPrincipalId) ? [] : userTables): {
  name: guid(storage.id, userPrincipalId, roles.storageTableDataContributor, table)
  scope: userTableScopes[i]
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}]

resource userSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(vault.id, userPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}
