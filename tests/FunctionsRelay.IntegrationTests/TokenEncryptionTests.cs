using System.Security.Cryptography;
using Azure.Data.Tables;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Protection;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// Tokens at rest: the raw row holds neither token, the relay reads them back, and a reader without the key ring cannot;
/// with a Key Vault key, the key ring's own row holds no key either, and without the vault nothing can be read.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class TokenEncryptionTests(Azurite azurite) : WithFakeHubSpot
{
    [Fact]
    public async Task Tokens_in_the_table_are_unreadable_without_the_relays_key_ring()
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        await using var relay = await IsolatedRelay.StartServicesAsync(settings);
        var store = relay.GetRequiredService<PortalTokenStore>();
        var (access, refresh) = await HubSpot.ConnectPortalAsync(store, 4343, TimeSpan.FromMinutes(30));

        var raw = (await store.Table.GetEntityAsync<TableEntity>("portal", "4343")).Value;
        foreach (var column in new[] { "AccessToken", "RefreshToken" })
        {
            Assert.StartsWith("dp1:", raw.GetString(column), StringComparison.Ordinal);
            Assert.DoesNotContain(access, raw.GetString(column), StringComparison.Ordinal);
            Assert.DoesNotContain(refresh, raw.GetString(column), StringComparison.Ordinal);
        }

        var read = await store.GetAsync(4343, CancellationToken.None);
        Assert.Equal((access, refresh), (read!.AccessToken, read.RefreshToken));

        // The same row, read with another key ring (another relay's, or none of the relay's): not a token in sight.
        var stranger = new PortalTokenStore(
            relay.GetRequiredService<StorageClients>(),
            relay.GetRequiredService<IOptions<RelayOptions>>(),
            TimeProvider.System,
            new ServiceCollection().AddDataProtection().SetApplicationName("FunctionsRelay").UseEphemeralDataProtectionProvider().Services
                .BuildServiceProvider().GetRequiredService<IDataProtectionProvider>());
        await Assert.ThrowsAnyAsync<CryptographicException>(() => stranger.GetAsync(4343, CancellationToken.None));
        // The key ring is in its own table.
        Assert.NotEmpty(relay.GetRequiredService<StorageClients>().Tables.GetTableClient(settings["Relay:KeysTable"]).Query<TableEntity>());
    }

    [Fact]
    public async Task With_a_Key_Vault_key_the_key_ring_is_stored_wrapped_and_unreadable_once_the_vault_refuses()
    {
        await using var vault = await FakeKeyVault.StartAsync();
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        settings["Relay:KeyRingKeyUri"] = vault.KeyUri.ToString();
        static void AsTheAppsIdentity(IServiceCollection services) => services.AddSingleton(new KeyVaultAccess(FakeKeyVault.Credential));

        string access, refresh;
        await using (var relay = await IsolatedRelay.StartServicesAsync(settings, AsTheAppsIdentity))
            (access, refresh) = await HubSpot.ConnectPortalAsync(relay.GetRequiredService<PortalTokenStore>(), 4444, TimeSpan.FromMinutes(30));

        // The key ring's row: the key encrypted under a data key that the vault's key wrapped; no key material in the clear.
        var keys = new TableServiceClient(azurite.ConnectionString).GetTableClient(settings["Relay:KeysTable"]);
        var key = System.Xml.Linq.XElement.Parse(Assert.Single(keys.Query<TableEntity>()).GetString("Xml"));
        var wrapped = Assert.Single(key.Descendants(KeyVaultXmlEncryptor.ElementName));
        Assert.StartsWith($"{vault.KeyUri}/", wrapped.Element("kid")!.Value, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Descendants(), element => element.Name.LocalName == "masterKey");
        Assert.Equal(1, vault.Wraps);

        // A relay started afresh (nothing in memory) reads the tokens: it has the vault unwrap the key ring.
        await using (var again = await IsolatedRelay.StartServicesAsync(settings, AsTheAppsIdentity))
        {
            var read = await again.GetRequiredService<PortalTokenStore>().GetAsync(4444, CancellationToken.None);
            Assert.Equal((access, refresh), (read!.AccessToken, read.RefreshToken));
        }

        Assert.True(vault.Unwraps >= 1);

        // The app's access to the key revoked (or the tables copied elsewhere): the tokens cannot be read.
        vault.AccessRevoked = true;
        await using var refused = await IsolatedRelay.StartServicesAsync(settings, AsTheAppsIdentity);
        await Assert.ThrowsAnyAsync<CryptographicException>(() => refused.GetRequiredService<PortalTokenStore>().GetAsync(4444, CancellationToken.None));
    }
}
