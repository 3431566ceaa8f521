using System.Security.Cryptography;
using Azure.Data.Tables;
using FunctionsRelay.Cli;
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
    [Fact]
    public async Task Signing_secrets_are_encrypted_at_rest_as_tokens_are_and_still_vouch_for_signed_contacts()
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        await using var relay = await IsolatedRelay.StartServicesAsync(settings);
        var store = relay.GetRequiredService<PortalTokenStore>();
        await HubSpot.ConnectPortalAsync(store, 4545, TimeSpan.FromMinutes(30));
        var first = (await store.GetAccessAsync(4545, CancellationToken.None))!.SigningSecret!;
        var rotated = (await store.RotateSigningSecretAsync(4545, TimeSpan.FromHours(1), CancellationToken.None))!;

        var raw = (await store.Table.GetEntityAsync<TableEntity>("portal", "4545")).Value;
        foreach (var (column, secret) in new[] { ("SigningSecret", rotated.SigningSecret!), ("PreviousSigningSecret", first) })
        {
            Assert.StartsWith("dp1:", raw.GetString(column), StringComparison.Ordinal);
            Assert.DoesNotContain(secret, raw.GetString(column), StringComparison.Ordinal);
            Assert.DoesNotContain(secret[3..], string.Join("|", raw.Select(property => property.Value)), StringComparison.Ordinal);
        }

        Assert.Equal(first, rotated.PreviousSigningSecret);
        var expires = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds();
        foreach (var secret in new[] { rotated.SigningSecret!, first })
            Assert.True(rotated.Vouches(77, new(expires, Sign(secret, 4545, 77, expires)), DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task A_signing_secret_stored_before_encryption_is_still_read_and_encrypted_when_rotated()
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        await using var relay = await IsolatedRelay.StartServicesAsync(settings);
        var store = relay.GetRequiredService<PortalTokenStore>();
        await HubSpot.ConnectPortalAsync(store, 4646, TimeSpan.FromMinutes(30));
        var plain = PortalAccess.NewSigningSecret();
        await store.Table.UpdateEntityAsync(new TableEntity("portal", "4646") { ["SigningSecret"] = plain }, Azure.ETag.All, TableUpdateMode.Merge);

        Assert.Equal(plain, (await store.GetAccessAsync(4646, CancellationToken.None))!.SigningSecret);
        await store.RotateSigningSecretAsync(4646, TimeSpan.FromHours(1), CancellationToken.None);

        var raw = (await store.Table.GetEntityAsync<TableEntity>("portal", "4646")).Value;
        Assert.DoesNotContain(plain, raw.GetString("PreviousSigningSecret"), StringComparison.Ordinal);
        Assert.Equal(plain, (await store.GetAccessAsync(4646, CancellationToken.None))!.PreviousSigningSecret);
    }

    [Fact]
    public async Task One_portals_undecryptable_token_row_does_not_stop_the_refresh_of_the_others()
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        foreach (var setting in HubSpot.RelaySettings)
            settings[setting.Key] = setting.Value;
        var logs = new CapturedLogs();
        await using var relay = await IsolatedRelay.StartServicesAsync(settings, services => services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs));
        var store = relay.GetRequiredService<PortalTokenStore>();
        await HubSpot.ConnectPortalAsync(store, 4701, TimeSpan.FromMinutes(2));
        await HubSpot.ConnectPortalAsync(store, 4702, TimeSpan.FromMinutes(2));
        // Portal 4701's row as another deployment's key ring wrote it: this relay cannot decrypt it.
        var foreign = new ServiceCollection().AddDataProtection().SetApplicationName("FunctionsRelay").UseEphemeralDataProtectionProvider().Services
            .BuildServiceProvider().GetRequiredService<IDataProtectionProvider>().CreateProtector("FunctionsRelay.PortalTokens");
        await store.Table.UpdateEntityAsync(
            new TableEntity("portal", "4701") { ["AccessToken"] = "dp1:" + foreign.Protect("a"), ["RefreshToken"] = "dp1:" + foreign.Protect("b") },
            Azure.ETag.All,
            TableUpdateMode.Merge);
        var tokens = relay.GetRequiredService<TokenService>();

        var refreshed = await tokens.RefreshExpiringAsync(CancellationToken.None);

        Assert.Equal(1, refreshed);
        Assert.True((await store.GetAsync(4702, CancellationToken.None))!.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(25));
        Assert.Null(await tokens.GetAccessTokenAsync(4701, CancellationToken.None));
        Assert.Contains(logs.Lines, line => line.Contains("portal 4701 cannot be decrypted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_relay_without_the_key_vault_wrap_refuses_a_wrapped_key_ring_and_the_command_never_adds_a_key()
    {
        await using var vault = await FakeKeyVault.StartAsync();
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        settings["Relay:KeyRingKeyUri"] = vault.KeyUri.ToString();
        static void AsTheAppsIdentity(IServiceCollection services) => services.AddSingleton(new KeyVaultAccess(FakeKeyVault.Credential));
        await using (var relay = await IsolatedRelay.StartServicesAsync(settings, AsTheAppsIdentity))
            await HubSpot.ConnectPortalAsync(relay.GetRequiredService<PortalTokenStore>(), 4848, TimeSpan.FromMinutes(30));
        var keys = new TableServiceClient(azurite.ConnectionString).GetTableClient(settings["Relay:KeysTable"]);
        var ring = keys.Query<TableEntity>().Select(k => k.GetString("Xml")).ToList();

        // The command run against the deployed storage without the wrap setting (here: a portal's signing secret is read):
        // it says what is missing, and adds nothing.
        settings.Remove("Relay:KeyRingKeyUri");
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        await using (var command = new ServiceCollection().AddRelayCommand(configuration).BuildServiceProvider())
        {
            var (exit, output) = await Cli.RunAsync(command, "portal", "--portal", "4848");
            Assert.Equal(2, exit);
            Assert.Contains("Relay__KeyRingKeyUri is not set", output, StringComparison.Ordinal);
        }

        // A host started the same way stops at start.
        var refused = await Assert.ThrowsAsync<KeyRingMisconfiguredException>(() => IsolatedRelay.StartServicesAsync(settings));
        Assert.Contains(settings["Relay:KeysTable"]!, refused.Message, StringComparison.Ordinal);
        Assert.Equal(ring, keys.Query<TableEntity>().Select(k => k.GetString("Xml")).ToList());
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("http://vault.example.net/keys/relay-key-ring")]
    [InlineData("https://vault.example.net/secrets/relay-key-ring")]
    public async Task A_malformed_key_vault_key_is_refused_by_name_not_ignored(string keyUri)
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        settings["Relay:KeyRingKeyUri"] = keyUri;
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        await using var command = new ServiceCollection().AddRelayCommand(configuration).BuildServiceProvider();

        var (exit, output) = await Cli.RunAsync(command, "status");

        Assert.Equal(2, exit);
        Assert.Contains("Relay__KeyRingKeyUri must be the https URL of a Key Vault key", output, StringComparison.Ordinal);
    }

    private static string Sign(string secret, long portalId, long contactId, long expires) => Convert.ToHexStringLower(
        HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret), System.Text.Encoding.UTF8.GetBytes($"{portalId}:{contactId}:{expires}")));
}
