using System.Net;
using System.Text;
using System.Text.Json;
using FunctionsRelay.Cli;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// Viewers on TVs and in apps: mParticle's Webhook output posts their batches to <c>/api/sources/mparticle</c> with a
/// portal's secret source key, and a platform's backend posts native beacons with one; the viewer is named by email and
/// sent as the contact HubSpot has (or, opted in, makes) for it. On Azurite, against the stand-in HubSpot's contacts API.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class MParticleSourceTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 5151;

    private const string Route = "/api/" + BeaconEndpoint.MParticleRoute;

    private static long StartMs => DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds();

    private async Task<(RelayHost Host, string SecretKey)> StartAsync(Dictionary<string, string?>? settings = null, params string[] portalOptions)
    {
        var host = new RelayHost(azurite, HubSpot, settings);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        return (host, await NewSecretKeyAsync(host, Portal, portalOptions));
    }

    private static async Task<string> NewSecretKeyAsync(RelayHost host, long portal, params string[] more)
    {
        var (exit, output) = await Cli.RunAsync(host.Services, ["portal", "--portal", $"{portal}", "--new-secret-key", .. more]);
        Assert.Equal(RelayCli.Done, exit);
        return output.Split('\n').Single(line => line.StartsWith("new secret source key", StringComparison.Ordinal)).Split(": ")[^1].Trim();
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(RelayHost host, string json, string? authorization, string path = Route, string? publishableKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (authorization is not null)
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        if (publishableKey is not null)
            request.Headers.Add(BeaconEndpoint.KeyHeader, publishableKey);
        var answer = await host.RawClient.SendAsync(request);
        return (answer.StatusCode, JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static string FirstError(JsonElement body) => body.GetProperty("errors")[0].GetString()!;

    private static async Task AssertNothingQueuedAsync(RelayHost host) =>
        Assert.Null((await host.Service<BeaconQueue>().Queue.PeekMessageAsync()).Value);

    /// <summary>Emails are personal data and source keys are secrets: neither is in any log line the relay wrote.</summary>
    private void AssertNothingPersonalLogged(RelayHost host, params string[] secrets)
    {
        Assert.NotEmpty(host.Logs);
        var logs = string.Join("\n", host.Logs);
        foreach (var secret in secrets.Concat(HubSpot.IssuedSecrets))
            Assert.False(logs.Contains(secret, StringComparison.OrdinalIgnoreCase), $"a log line holds {(secret.Contains('@', StringComparison.Ordinal) ? "an email" : "a secret")}");
    }

    private static async Task<bool> EventuallyAnsweredAsync(RelayHost host, string json, string key, HttpStatusCode status, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while ((await PostAsync(host, json, $"Bearer {key}")).Status != status)
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(250);
        }

        return true;
    }

    private async Task<List<ReceivedEvent>> DeliveredAsync(RelayHost host, string sessionId, int count)
    {
        await host.EventuallyAsync(() => HubSpot.EventsOf(sessionId).Count >= count, $"the {count} events of {sessionId} reach HubSpot", seconds: 60);
        await Task.Delay(500);
        return HubSpot.EventsOf(sessionId).ToList();
    }

    [Fact]
    public async Task A_Roku_session_from_the_webhook_output_named_by_email_reaches_HubSpot_as_that_contact_with_a_media_object()
    {
        var (relay, key) = await StartAsync();
        using var host = relay;
        var contactId = HubSpot.AddContactWithEmail(Portal, "roku.viewer@example.com");
        var batch = MParticleBatches.RokuSession("roku-1", StartMs, email: "Roku.Viewer@Example.com");
        var expected = MParticleBatches.ExpectedEvents(Portal, "roku-1", batch, contactId);

        var (status, body) = await PostAsync(host, MParticleBatches.Json(batch), $"Bearer {key}");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(16, body.GetProperty("accepted").GetInt32());
        Assert.Equal(1, body.GetProperty("ignored").GetInt32());
        var events = await DeliveredAsync(host, "roku-1", expected.Count);
        Assert.Equal(["attention-span", "played", "quartile-0", "quartile-100", "quartile-25", "quartile-50", "quartile-75"], events.Select(e => e.Key).Order());
        Assert.Equal(expected.Order(), events.Select(e => (e.Key, e.ProviderPayload)).Order());
        Assert.All(events, e => Assert.Equal(contactId, e.Json.GetProperty("contactId").GetInt64()));
        Assert.All(events, e => Assert.False(e.Json.TryGetProperty("contactUtk", out _)));

        // The media was never seen and has no page: its object gets the relay's title card as its oEmbed URL.
        var media = Assert.Single(HubSpot.Objects.Values, o => o.ExternalId == MParticleBatches.ContentId);
        Assert.Equal((Portal, "VIDEO", MParticleBatches.Title), (media.PortalId, media.MediaType, media.Title));
        var oembed = media.Fields.GetProperty("oembedUrl").GetString()!;
        Assert.Equal($"https://relay.test/api/oembed?media={MParticleBatches.ContentId}&title={Uri.EscapeDataString(MParticleBatches.Title)}", oembed);
        var card = JsonDocument.Parse(await host.RawClient.GetStringAsync(new Uri(oembed).PathAndQuery)).RootElement;
        Assert.Equal(("1.0", "video", MParticleBatches.Title), (card.GetProperty("version").GetString(), card.GetProperty("type").GetString(), card.GetProperty("title").GetString()));
        var cardUrl = $"https://relay.test/api/oembed?format=card&media={MParticleBatches.ContentId}&title={Uri.EscapeDataString(MParticleBatches.Title)}";
        Assert.Equal($"<iframe src=\"{System.Net.WebUtility.HtmlEncode(cardUrl)}\" width=\"640\" height=\"360\" frameborder=\"0\"></iframe>", card.GetProperty("html").GetString());
        using var page = await host.RawClient.GetAsync(new Uri(cardUrl).PathAndQuery);
        Assert.Equal(("text/html", "default-src 'none'; style-src 'unsafe-inline'"), (page.Content.Headers.ContentType?.MediaType, page.Headers.GetValues("Content-Security-Policy").Single()));
        Assert.Contains("<p>Episode 7: The Return</p>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(HubSpot.Dropped);
        AssertNothingPersonalLogged(host, key, "roku.viewer@example.com");
    }

    [Fact]
    public async Task An_array_of_batches_of_several_viewers_sends_each_session_as_its_own_contact()
    {
        var (relay, key) = await StartAsync();
        using var host = relay;
        var viewers = Enumerable.Range(1, 3).Select(i => (Session: $"many-{i}", Email: $"viewer{i}@example.com")).ToList();
        var contacts = viewers.ToDictionary(v => v.Session, v => HubSpot.AddContactWithEmail(Portal, v.Email));
        var batches = viewers.Select(v => MParticleBatches.RokuSession(v.Session, StartMs, email: v.Email)).ToList();

        var (status, body) = await PostAsync(host, MParticleBatches.Json(batches), $"Bearer {key}");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(48, body.GetProperty("accepted").GetInt32());
        foreach (var (viewer, batch) in viewers.Zip(batches))
        {
            var expected = MParticleBatches.ExpectedEvents(Portal, viewer.Session, batch, contacts[viewer.Session]);
            var events = await DeliveredAsync(host, viewer.Session, expected.Count);
            Assert.Equal(expected.Order(), events.Select(e => (e.Key, e.ProviderPayload)).Order());
        }

        AssertNothingPersonalLogged(host, [key, .. viewers.Select(v => v.Email)]);
    }

    [Fact]
    public async Task A_send_as_batch_of_forty_viewers_is_taken_whole_past_a_pages_counts_and_body_size()
    {
        // mParticle's Webhook output sends many viewers' batches at once and does not send a refused request again: a
        // page's bounds (20 sessions, 500 events, 256 KiB) would lose them all.
        var (relay, key) = await StartAsync();
        using var host = relay;
        var viewers = Enumerable.Range(1, 40).Select(i => (Session: $"batch40-{i}", Email: $"batch{i}@example.com")).ToList();
        foreach (var viewer in viewers)
            HubSpot.AddContactWithEmail(Portal, viewer.Email);
        var json = MParticleBatches.Json(viewers.Select(v => MParticleBatches.RokuSession(v.Session, StartMs, email: v.Email)).ToList());
        Assert.True(Encoding.UTF8.GetByteCount(json) > 256 * 1024, "the batches are over a page's 256 KiB");

        var (status, body) = await PostAsync(host, json, $"Bearer {key}");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(40 * 16, body.GetProperty("accepted").GetInt32());
        // Every viewer's session is kept with its events decided (they then reach HubSpot at the portal's pace).
        var sessions = host.Service<SessionRepository>();
        await host.EventuallyAsync(
            () => viewers.All(v => sessions.GetAsync(Portal, v.Session, CancellationToken.None).GetAwaiter().GetResult()?.Session is { IsClosed: true, Decided: not FunctionsRelay.Domain.Sessions.DecidedEvents.None }),
            "all forty sessions merged, closed and their events decided");
        await host.EventuallyAsync(() => HubSpot.EventsOf(viewers[0].Session).Any(e => e.Key == "played"), "the first viewer's played event at HubSpot");
    }

    [Fact]
    public async Task A_source_request_without_a_key_that_counts_is_refused_before_its_body_is_read()
    {
        var (relay, _) = await StartAsync();
        using var host = relay;
        // Larger than any body the relay takes: read first, it would be answered 413.
        var huge = "[" + new string(' ', 6 * 1024 * 1024) + "]";

        var (status, body) = await PostAsync(host, huge, authorization: null);

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.StartsWith("Authorization: is required", FirstError(body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_revoked_on_one_instance_stops_counting_on_another_within_seconds()
    {
        var (relay, key) = await StartAsync();
        using var host = relay;
        // A second instance of the same deployment: same storage, its own cache of the portal.
        using var second = new RelayHost(azurite, HubSpot, host.Settings.ToDictionary());
        var json = MParticleBatches.Json(MParticleBatches.RokuSession("revoked-elsewhere", StartMs, email: "someone@example.com"));
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(second, json, $"Bearer {key}")).Status);
        var id = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.SecretKeys!.Single().Id;

        var (exit, _) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--revoke-secret-key", id);

        Assert.Equal(RelayCli.Done, exit);
        // Within the 5 s the relay reads a secret key's row again, not the minute it keeps a portal.
        Assert.True(await EventuallyAnsweredAsync(second, json, key, HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(7)), "the revoked key still counts on the other instance");
    }

    [Fact]
    public async Task Keys_made_and_revoked_at_once_from_several_places_lose_neither_change()
    {
        var (relay, first) = await StartAsync();
        using var host = relay;
        var store = host.Service<PortalTokenStore>();
        var firstId = (await store.GetAccessAsync(Portal, CancellationToken.None))!.SecretKeys!.Single().Id;

        // Ten keys made while the first is revoked, all at once (a second operator, or another machine of the command).
        var made = Task.WhenAll(Enumerable.Range(0, 10).Select(_ => store.AddSecretKeyAsync(Portal, CancellationToken.None)));
        var revoked = store.RevokeSecretKeyAsync(Portal, firstId, TimeSpan.Zero, CancellationToken.None);
        var keys = await made;
        Assert.True(await revoked);

        var access = (await store.GetAccessAsync(Portal, CancellationToken.None))!;
        Assert.Equal(11, access.SecretKeys!.Count);
        Assert.False(access.AcceptsSecret(first, DateTimeOffset.UtcNow));
        Assert.All(keys, key => Assert.True(access.AcceptsSecret(key!.Value.Key, DateTimeOffset.UtcNow)));
    }

    [Fact]
    public async Task A_missing_a_wrong_another_portals_or_a_revoked_key_gets_401_or_403_and_queues_nothing()
    {
        var (relay, key) = await StartAsync();
        using var host = relay;
        const long other = 5252;
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), other, TimeSpan.FromMinutes(30));
        var otherKey = await NewSecretKeyAsync(host, other);
        var publishable = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key;
        var json = MParticleBatches.Json(MParticleBatches.RokuSession("refused-1", StartMs, email: "someone@example.com"));

        var missing = await PostAsync(host, json, null);
        var notAKey = await PostAsync(host, json, "Basic dXNlcjpwYXNzd29yZA==");
        var forged = await PostAsync(host, json, $"Bearer sk_{Portal}_00000000_{new string('x', 43)}");
        var aPublishableKey = await PostAsync(host, json, $"Bearer {publishable}");
        var notInstalled = await PostAsync(host, json, $"Bearer sk_9999_00000000_{new string('x', 43)}");
        // A batch that names its portal must be the key's: another portal's key does not write this portal's timeline.
        var foreign = MParticleBatches.RokuSession("refused-1", StartMs, email: "someone@example.com");
        foreach (var item in (List<object>)foreign["events"]!)
        {
            if (item is Dictionary<string, object> { } e && e["data"] is Dictionary<string, object> data && data.TryGetValue("custom_attributes", out var a))
                ((Dictionary<string, string>)a)["hubspot_portal_id"] = $"{Portal}";
        }

        var otherPortals = await PostAsync(host, MParticleBatches.Json(foreign), $"Bearer {otherKey}");

        Assert.Equal((HttpStatusCode.Unauthorized, "Authorization: is required: Bearer and one of the portal's secret source keys (made with relay portal --portal <portalId> --new-secret-key)"), (missing.Status, FirstError(missing.Body)));
        Assert.Equal((HttpStatusCode.Unauthorized, "Authorization: is not a secret source key (Bearer sk_<portalId>_...)"), (notAKey.Status, FirstError(notAKey.Body)));
        Assert.Equal((HttpStatusCode.Unauthorized, $"Authorization: is not a secret source key of portal {Portal} that counts (revoked, rotated more than its grace period ago, or never made)"), (forged.Status, FirstError(forged.Body)));
        Assert.Equal(HttpStatusCode.Unauthorized, aPublishableKey.Status);
        Assert.Equal((HttpStatusCode.Forbidden, "portalId: 9999 has not installed this relay's HubSpot app; install it first (/api/oauth/install)"), (notInstalled.Status, FirstError(notInstalled.Body)));
        Assert.Equal(HttpStatusCode.BadRequest, otherPortals.Status);
        Assert.Contains($"events[0].data.custom_attributes.hubspot_portal_id: is {Portal}, but the source key is portal {other}'s", FirstError(otherPortals.Body), StringComparison.Ordinal);
        await AssertNothingQueuedAsync(host);

        // Rotation: a new key works at once; the old one, revoked with a grace period, until it ends; then 401.
        var rotated = await NewSecretKeyAsync(host, Portal);
        var oldId = key.Split('_')[2];
        Assert.Equal(RelayCli.Done, (await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--revoke-secret-key", oldId, "--grace", "00:00:06")).Exit);
        var (_, listing) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}");
        Assert.Contains($"secret source key {oldId}: made ", listing, StringComparison.Ordinal);
        Assert.DoesNotContain(key, listing, StringComparison.Ordinal);
        var empty = MParticleBatches.Json(new { events = Array.Empty<object>() });
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(host, empty, $"Bearer {key}")).Status);

        // The key refused a moment ago made the relay read the portal's row; the new key counts on the next read, within 5 s.
        Assert.True(await EventuallyAnsweredAsync(host, empty, rotated, HttpStatusCode.Accepted, TimeSpan.FromSeconds(10)), "the new key is accepted");
        Assert.True(await EventuallyAnsweredAsync(host, json, key, HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(15)), "the old key is refused once its grace has passed");
        await AssertNothingQueuedAsync(host);
        AssertNothingPersonalLogged(host, key, rotated, otherKey, "someone@example.com");
    }

    [Fact]
    public async Task A_publishable_key_cannot_name_a_viewer_by_email_and_a_backends_secret_key_can()
    {
        var (relay, key) = await StartAsync();
        using var host = relay;
        var contactId = HubSpot.AddContactWithEmail(Portal, "backend.viewer@example.com");
        var publishable = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key;
        var byEmail = SessionBeacons.Typical(Portal, "backend-1", contact: """{"email":"backend.viewer@example.com"}""");
        var json = await byEmail.Content().ReadAsStringAsync();

        var fromAPage = await PostAsync(host, json, null, "/api/beacons", publishableKey: publishable);

        Assert.Equal(HttpStatusCode.BadRequest, fromAPage.Status);
        Assert.StartsWith("contact.email: the start beacon of session backend-1 names its viewer by email, which only a request with a secret source key may do", FirstError(fromAPage.Body), StringComparison.Ordinal);
        Assert.DoesNotContain("backend.viewer@example.com", FirstError(fromAPage.Body), StringComparison.Ordinal);
        await AssertNothingQueuedAsync(host);

        // A proxy's own credentials beside a publishable key are not taken for a secret key.
        var behindAProxy = await SessionBeacons.Typical(Portal, "proxied-1").Content().ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(host, behindAProxy, "Basic dXNlcjpwYXNzd29yZA==", "/api/beacons", publishableKey: publishable)).Status);

        var fromTheBackend = await PostAsync(host, json, $"Bearer {key}", "/api/beacons");

        Assert.Equal(HttpStatusCode.Accepted, fromTheBackend.Status);
        var events = await DeliveredAsync(host, "backend-1", 7);
        Assert.All(events, e => Assert.Equal(contactId, e.Json.GetProperty("contactId").GetInt64()));
        AssertNothingPersonalLogged(host, key, "backend.viewer@example.com");
    }

    [Fact]
    public async Task An_unknown_email_is_held_and_sent_once_HubSpot_knows_it()
    {
        var (relay, key) = await StartAsync(new() { ["Relay:AnonymousCheckInterval"] = "00:00:01", ["Relay:HoldAnonymousFor"] = "1.00:00:00" });
        using var host = relay;
        var batch = MParticleBatches.RokuSession("held-1", StartMs, email: "later@example.com");

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(host, MParticleBatches.Json(batch), $"Bearer {key}")).Status);

        var sessions = host.Service<SessionRepository>();
        await host.EventuallyAsync(
            () => sessions.GetAsync(Portal, "held-1", CancellationToken.None).GetAwaiter().GetResult() is { Session: { IsClosed: true, Outbox.Count: 7 } }
                && HubSpot.EmailLookups >= 3,
            "the closed session holds its seven events while the email is looked up again");
        Assert.Empty(HubSpot.EventsOf("held-1"));
        Assert.Equal(0, HubSpot.ContactsCreated);

        var contactId = HubSpot.AddContactWithEmail(Portal, "later@example.com");

        var events = await DeliveredAsync(host, "held-1", 7);
        Assert.Equal(MParticleBatches.ExpectedEvents(Portal, "held-1", batch, contactId).Order(), events.Select(e => (e.Key, e.ProviderPayload)).Order());
        AssertNothingPersonalLogged(host, key, "later@example.com");
    }

    [Fact]
    public async Task With_create_contacts_concurrent_sessions_of_a_new_email_create_exactly_one_contact()
    {
        var (relay, key) = await StartAsync(null, "--create-contacts");
        using var host = relay;
        var sessions = Enumerable.Range(1, 6).Select(i => $"new-viewer-{i}").ToList();

        var answers = await Task.WhenAll(sessions.Select(session =>
            PostAsync(host, MParticleBatches.Json(MParticleBatches.RokuSession(session, StartMs, email: "brand.new@example.com")), $"Bearer {key}")));

        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.Accepted, answer.Status));
        foreach (var session in sessions)
            await DeliveredAsync(host, session, 7);
        Assert.Equal(1, HubSpot.ContactsCreated);
        var contactId = HubSpot.ContactIdOfEmail(Portal, "brand.new@example.com");
        Assert.NotNull(contactId);
        Assert.All(sessions.SelectMany(HubSpot.EventsOf), e => Assert.Equal(contactId, e.Json.GetProperty("contactId").GetInt64()));
        AssertNothingPersonalLogged(host, key, "brand.new@example.com");
    }

    [Fact]
    public async Task Batches_without_media_events_are_accepted_ignored_and_counted()
    {
        var (relay, key) = await StartAsync();
        using var host = relay;
        var screenViews = new
        {
            events = new[] { new { event_type = "screen_view", data = new { screen_name = "Home", timestamp_unixtime_ms = StartMs } } },
            user_identities = new[] { new { identity_type = "email", identity = "browsing@example.com" } },
            environment = "production",
        };
        var empty = new { environment = "production", mpid = 1 };

        var (status, body) = await PostAsync(host, MParticleBatches.Json(new object[] { screenViews, empty }), $"Bearer {key}");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal((0, 1, 2), (body.GetProperty("accepted").GetInt32(), body.GetProperty("ignored").GetInt32(), body.GetProperty("batchesWithoutMedia").GetInt32()));
        await AssertNothingQueuedAsync(host);
    }
}
