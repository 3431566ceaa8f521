using System.Security.Cryptography;
using Azure.Data.Tables;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.IntegrationTests;

/// <summary>Tokens at rest: the raw row holds neither token, the relay reads them back, and a reader without the key ring cannot.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class TokenEncryptionTests(Azurite azurite)
{
    [Fact]
    public async Task Tokens_in_the_table_are_unreadable_without_the_relays_key_ring()
    {
        await using var hubSpot = await FakeHubSpot.StartAsync();
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        await using var relay = await IsolatedRelay.StartServicesAsync(settings);
        var store = relay.GetRequiredService<PortalTokenStore>();
        var (access, refresh) = await hubSpot.ConnectPortalAsync(store, 4343, TimeSpan.FromMinutes(30));

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
}
