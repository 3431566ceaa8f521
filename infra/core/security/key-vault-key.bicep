@description('An RSA key in an existing Key Vault that never leaves it: it wraps and unwraps other keys (the relay\'s Data Protection key ring).')
param keyVaultName string
param name string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource key 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: name
  properties: {
    kty: 'RSA'
    keySize: 2048
    keyOps: ['wrapKey', 'unwrapKey']
  }
}

output name string = key.name

@description('The key\'s URI without a version: the relay wraps with its current version and records which.')
output uri string = key.properties.keyUri
