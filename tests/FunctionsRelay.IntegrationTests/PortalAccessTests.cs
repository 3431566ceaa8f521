using System.Net;
using System.Text.Json;
using FunctionsRelay.Cli;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.Ingest;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// Only a portal's own players write to its timeline: each refusal has its status and message and queues nothing; a
/// rotated key keeps working for its grace period; one address's flood is limited while another's player is not.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class PortalAccessTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 3131;

    private async Task<(RelayHost Host, string Key)> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var host = new RelayHost(azurite, HubSpot, settings);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        return (host, (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key);
    }

    private static async Task<(HttpStatusCode Status, string Error, HttpResponseMessage Answer)> PostAsync(
        RelayHost host, long portal, string? key, string? origin = null, string? address = null, string session = "access")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/beacons") { Content = SessionBeacons.Typical(portal, session).Content() };
        if (key is not null)
            request.Headers.Add(BeaconEndpoint.KeyHeader, key);
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        if (address is not null)
            request.Headers.Add("X-Forwarded-For", address);
        var answer = await host.RawClient.SendAsync(request);
        var body = await answer.Content.ReadAsStringAsync();
        var error = answer.StatusCode == HttpStatusCode.Accepted ? "" : JsonDocument.Parse(body).RootElement.GetProperty("errors")[0].GetString()!;
        return (answer.StatusCode, error, answer);
    }

    private static async Task AssertNothingQueuedAsync(RelayHost host) =>
        Assert.Null((await host.Service<BeaconQueue>().Queue.PeekMessageAsync()).Value);

    [Fact]
    public async Task A_missing_key_a_wrong_key_and_an_unknown_portal_are_refused_and_nothing_is_queued()
    {
        var (host, key) = await StartAsync();
        using var _ = host;

        var missing = await PostAsync(host, Portal, key: null);
        var wrong = await PostAsync(host, Portal, key: "pk_" + new string('x', 32));
        var otherPortals = await PostAsync(host, 9_999_999, key);

        Assert.Equal((HttpStatusCode.Unauthorized, "key: is required: the portal's publishable key, as the X-Relay-Key header or ?key= (shown when the app was installed, and by relay portal)"), (missing.Status, missing.Error));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.Equal($"key: is not a publishable key of portal {Portal} (rotated more than the grace period ago, or another portal's)", wrong.Error);
        Assert.Equal(HttpStatusCode.Forbidden, otherPortals.Status);
        Assert.Equal("portalId: 9999999 has not installed this relay's HubSpot app; install it first (/api/oauth/install)", otherPortals.Error);
        await AssertNothingQueuedAsync(host);

        var allowed = await PostAsync(host, Portal, key);
        var inQuery = await host.RawClient.PostAsync($"/api/beacons?key={Uri.EscapeDataString(key)}", SessionBeacons.Typical(Portal, "by-query").Content());
        Assert.Equal(HttpStatusCode.Accepted, allowed.Status);
        Assert.Equal(HttpStatusCode.Accepted, inQuery.StatusCode);
        await host.EventuallyAsync(() => HubSpot.EventsOf("by-query").Any(e => e.Key == "attention-span"), "the keyed beacons reach HubSpot");
    }

    [Fact]
    public async Task A_page_of_an_origin_the_portal_does_not_allow_is_refused()
    {
        var (host, key) = await StartAsync();
        using var _ = host;
        var (exit, output) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--origins", "https://www.example.com");
        Assert.Equal(RelayCli.Done, exit);
        Assert.Contains("origins: https://www.example.com", output, StringComparison.Ordinal);

        var foreign = await PostAsync(host, Portal, key, origin: "https://phish.example.net");
        var own = await PostAsync(host, Portal, key, origin: "https://www.example.com", session: "from-its-page");

        Assert.Equal(HttpStatusCode.Forbidden, foreign.Status);
        Assert.Equal($"Origin: https://phish.example.net may not post beacons of portal {Portal}; allow it with relay portal --origins", foreign.Error);
        Assert.Equal(HttpStatusCode.Accepted, own.Status);
    }

    [Fact]
    public async Task A_rotated_key_works_at_once_and_the_old_one_for_its_grace_period_only()
    {
        var (host, oldKey) = await StartAsync();
        using var _ = host;
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(host, Portal, oldKey, session: "before-rotation")).Status);

        // A wrong command line is refused whole, before anything changes: an option is never another option's value.
        var (valueMissing, valueMissingSaid) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--rotate", "--origins", "--media-from-beacons");
        var (both, bothSaid) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--rotate", "--create-contacts", "--no-create-contacts");
        Assert.Equal((RelayCli.Usage, RelayCli.Usage), (valueMissing, both));
        Assert.StartsWith("relay: --origins needs a value ('--media-from-beacons' is an option)", valueMissingSaid, StringComparison.Ordinal);
        Assert.StartsWith("relay: --create-contacts and --no-create-contacts exclude each other", bothSaid, StringComparison.Ordinal);
        Assert.Equal(oldKey, (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key);

        var (exit, output) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--rotate", "--grace", "00:00:03");
        Assert.Equal(RelayCli.Done, exit);
        var newKey = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key;
        Assert.Contains($"key: {newKey}", output, StringComparison.Ordinal);
        Assert.Contains($"previous key: {oldKey} (valid until", output, StringComparison.Ordinal);

        await Task.Delay(TimeSpan.FromSeconds(5.5));
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(host, Portal, newKey, session: "new-key")).Status);
        var oldInGrace = await PostAsync(host, Portal, oldKey, session: "old-key-in-grace");
        Assert.Equal(HttpStatusCode.Unauthorized, oldInGrace.Status);

        // Within the grace period the old key still works.
        Assert.Equal(RelayCli.Done, (await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--rotate", "--grace", "01:00:00")).Exit);
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(host, Portal, newKey, session: "previous-key-in-grace")).Status);
    }

    [Fact]
    public async Task A_signing_secret_this_relay_cannot_decrypt_refuses_signed_contacts_by_name_and_nothing_else()
    {
        var (host, key) = await StartAsync();
        using var _ = host;
        // The row's signing secret as another deployment's key ring wrote it.
        var foreign = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddDataProtection().SetApplicationName("FunctionsRelay").UseEphemeralDataProtectionProvider().Services
            .BuildServiceProvider().GetRequiredService<Microsoft.AspNetCore.DataProtection.IDataProtectionProvider>().CreateProtector("FunctionsRelay.PortalTokens");
        await host.Service<PortalTokenStore>().Table.UpdateEntityAsync(
            new Azure.Data.Tables.TableEntity("portal", $"{Portal}") { ["SigningSecret"] = "dp1:" + foreign.Protect("ss_x") }, Azure.ETag.All, Azure.Data.Tables.TableUpdateMode.Merge);
        host.Service<PortalAccessCheck>().Forget(Portal);
        var expires = DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds();
        var signed = SessionBeacons.Typical(Portal, "unreadable-secret").Beacons
            .Select(b => b.Replace("\"contact\":{\"utk\":\"utk-unreadable-secret\"}", $"\"contact\":{{\"contactId\":77,\"expires\":{expires},\"signature\":\"{new string('a', 64)}\"}}", StringComparison.Ordinal))
            .ToList();

        var byUtk = await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "utk-still-works").Content());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/beacons") { Content = new StringContent(SessionBeacons.Json(signed), System.Text.Encoding.UTF8, "text/plain") };
        request.Headers.Add(BeaconEndpoint.KeyHeader, key);
        var bySignature = await host.RawClient.SendAsync(request);

        Assert.Equal(HttpStatusCode.Accepted, byUtk.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bySignature.StatusCode);
        Assert.StartsWith(
            $"contact.signature: portal {Portal}'s signing secret cannot be read by this relay's key ring",
            JsonDocument.Parse(await bySignature.Content.ReadAsStringAsync()).RootElement.GetProperty("errors")[0].GetString(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_contact_id_counts_only_with_the_portals_signature_of_it()
    {
        var (host, key) = await StartAsync();
        using var _ = host;
        var secret = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.SigningSecret!;
        var expires = DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds();
        string Sign(long contactId, long until, string? with = null) => Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(with ?? secret), System.Text.Encoding.UTF8.GetBytes($"{Portal}:{contactId}:{until}")));
        async Task<(HttpStatusCode Status, string Error)> PostContactAsync(string session, string contact)
        {
            var beacons = SessionBeacons.Typical(Portal, session).Beacons.Select(b => b.Replace($"\"contact\":{{\"utk\":\"utk-{session}\"}}", $"\"contact\":{contact}", StringComparison.Ordinal)).ToList();
            Assert.Contains(beacons, b => b.Contains(contact, StringComparison.Ordinal));
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/beacons") { Content = new StringContent(SessionBeacons.Json(beacons), System.Text.Encoding.UTF8, "text/plain") };
            request.Headers.Add(BeaconEndpoint.KeyHeader, key);
            var answer = await host.RawClient.SendAsync(request);
            var body = await answer.Content.ReadAsStringAsync();
            return (answer.StatusCode, answer.StatusCode == HttpStatusCode.Accepted ? "" : JsonDocument.Parse(body).RootElement.GetProperty("errors")[0].GetString()!);
        }

        var unsigned = await PostContactAsync("unsigned", "{\"contactId\":501}");
        var forged = await PostContactAsync("forged", $"{{\"contactId\":502,\"expires\":{expires},\"signature\":\"{Sign(501, expires)}\"}}");
        var expired = await PostContactAsync("expired", $"{{\"contactId\":503,\"expires\":1700000000,\"signature\":\"{Sign(503, 1700000000)}\"}}");
        await AssertNothingQueuedAsync(host);
        var signed = await PostContactAsync("signed", $"{{\"contactId\":504,\"expires\":{expires},\"signature\":\"{Sign(504, expires)}\"}}");

        Assert.Equal(HttpStatusCode.BadRequest, unsigned.Status);
        Assert.StartsWith("contact.contactId: the start beacon (seq 0) of session unsigned names contact 501 without contact.expires and contact.signature", unsigned.Error, StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.BadRequest, $"contact.signature: is not portal {Portal}'s signature of contact 502 in the start beacon (seq 0) of session forged"), forged);
        Assert.Equal((HttpStatusCode.BadRequest, "contact.expires: the signature of contact 503 in the start beacon (seq 0) of session expired has expired"), expired);
        Assert.Equal(HttpStatusCode.Accepted, signed.Status);
        await host.EventuallyAsync(() => HubSpot.EventsOf("signed").Any(e => e.Key == "attention-span"), "the signed contact's events reach HubSpot");
        Assert.All(HubSpot.EventsOf("signed"), e => Assert.Equal(504, e.Json.GetProperty("contactId").GetInt64()));

        // A rotated secret: the old one still vouches for its grace period, the new one at once (the relay reads the portal
        // again when a signature fails); once a rotation's grace is over, the secret before it no longer vouches.
        var store = host.Service<PortalTokenStore>();
        var rotated = (await store.RotateSigningSecretAsync(Portal, TimeSpan.FromHours(1), CancellationToken.None))!.SigningSecret!;
        await Task.Delay(TimeSpan.FromSeconds(5.5));
        Assert.Equal(HttpStatusCode.Accepted, (await PostContactAsync("old-secret-in-grace", $"{{\"contactId\":505,\"expires\":{expires},\"signature\":\"{Sign(505, expires)}\"}}")).Status);
        Assert.Equal(HttpStatusCode.Accepted, (await PostContactAsync("new-secret", $"{{\"contactId\":506,\"expires\":{expires},\"signature\":\"{Sign(506, expires, rotated)}\"}}")).Status);
        var afterGrace = (await store.RotateSigningSecretAsync(Portal, TimeSpan.Zero, CancellationToken.None))!;
        Assert.False(afterGrace.Vouches(507, new(expires, Sign(507, expires)), DateTimeOffset.UtcNow));
        Assert.False(afterGrace.Vouches(507, new(expires, Sign(507, expires, rotated)), DateTimeOffset.UtcNow));
        Assert.True(afterGrace.Vouches(507, new(expires, Sign(507, expires, afterGrace.SigningSecret)), DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task A_flood_from_one_address_is_limited_while_another_address_is_served()
    {
        var (host, key) = await StartAsync(new() { ["Beacons:RequestsPerMinutePerAddress"] = "8" });
        using var _ = host;

        var flood = new List<(HttpStatusCode Status, string Error, HttpResponseMessage Answer)>();
        for (var i = 0; i < 6; i++)
            flood.Add(await PostAsync(host, Portal, key, address: "203.0.113.7", session: $"flood-{i}"));
        var other = await PostAsync(host, Portal, key, address: "198.51.100.2", session: "another-viewer");

        Assert.Equal([HttpStatusCode.Accepted, HttpStatusCode.Accepted], flood.Take(2).Select(f => f.Status));
        Assert.All(flood.Skip(2), f =>
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, f.Status);
            Assert.Matches("^rate: more than 8 requests a minute from 203\\.0\\.113\\.7; send again after [0-9]+ s$", f.Error);
            Assert.True(int.Parse(f.Answer.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture) >= 1);
        });
        Assert.Equal(HttpStatusCode.Accepted, other.Status);
    }
    [Fact]
    public async Task A_portals_own_origins_are_answered_in_the_preflight_and_on_the_post_with_retry_after_readable()
    {
        var (host, key) = await StartAsync();
        using var _ = host;
        await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--origins", "https://www.example.com");

        HttpRequestMessage Preflight(string origin, string query) => new(HttpMethod.Options, "/api/beacons" + query)
        {
            Headers = { { "Origin", origin }, { "Access-Control-Request-Method", "POST" }, { "Access-Control-Request-Headers", "content-type" } },
        };
        using var own = await host.RawClient.SendAsync(Preflight("https://www.example.com", $"?portalId={Portal}&key={key}"));
        using var foreign = await host.RawClient.SendAsync(Preflight("https://phish.example.net", $"?portalId={Portal}&key={key}"));
        using var unnamed = await host.RawClient.SendAsync(Preflight("https://www.example.com", ""));
        var posted = await PostAsync(host, Portal, key, origin: "https://www.example.com", session: "cors-own");
        using var withQuery = new HttpRequestMessage(HttpMethod.Post, $"/api/beacons?portalId={Portal}") { Content = SessionBeacons.Typical(Portal, "cors-query").Content() };
        withQuery.Headers.Add(BeaconEndpoint.KeyHeader, key);
        withQuery.Headers.Add("Origin", "https://www.example.com");
        using var postedWithQuery = await host.RawClient.SendAsync(withQuery);

        Assert.Equal(HttpStatusCode.NoContent, own.StatusCode);
        Assert.Equal("https://www.example.com", own.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.False(foreign.Headers.Contains("Access-Control-Allow-Origin"));
        // A page of a portal's own origin that names no portal is the relay's list's to allow (here: not).
        Assert.Equal(HttpStatusCode.Forbidden, unnamed.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, posted.Status);
        Assert.Equal(HttpStatusCode.Accepted, postedWithQuery.StatusCode);
        Assert.Equal("https://www.example.com", postedWithQuery.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("Retry-After", postedWithQuery.Headers.GetValues("Access-Control-Expose-Headers").Single());
    }

    [Theory]
    [InlineData("203.0.113.7:51234", "203.0.113.7")]
    [InlineData("198.51.100.9, 203.0.113.7:51234", "203.0.113.7")]
    [InlineData("203.0.113.7:51234, 127.0.0.1", "203.0.113.7")]
    [InlineData("[2001:db8:aa:bb:1:2:3:4]:443", "2001:db8:aa:bb::/64")]
    [InlineData("2001:db8:aa:bb:ffff::9", "2001:db8:aa:bb::/64")]
    [InlineData("not-an-address", "127.0.0.1")]
    public async Task The_rate_limit_keys_the_client_address_as_Azures_front_end_forwards_it(string forwardedFor, string keyed)
    {
        var (host, key) = await StartAsync(new() { ["Beacons:RequestsPerMinutePerAddress"] = "4" });
        using var _ = host;

        // Four a minute take a bucket of one: the second request from the same address (another port, another /64 host) waits.
        var first = await PostAsync(host, Portal, key, address: forwardedFor, session: "address-1");
        var second = await PostAsync(host, Portal, key, address: forwardedFor.Replace("51234", "60001", StringComparison.Ordinal).Replace(":4]", ":5]", StringComparison.Ordinal), session: "address-2");

        Assert.Equal(HttpStatusCode.Accepted, first.Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.Status);
        Assert.StartsWith($"rate: more than 4 requests a minute from {keyed};", second.Error, StringComparison.Ordinal);
    }
}
