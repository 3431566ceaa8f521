using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.HostTests;

/// <summary>
/// What only the Functions host decides, on the published app: which functions it indexes and how it binds them
/// (<c>%Relay:BeaconQueue%</c>), its routes and keys, its queue listener's settings from host.json (polling, retries,
/// the poison queue), its timers, and where the app's log lines go.
/// </summary>
[Collection(HostCollection.Name)]
public sealed partial class HostTests(RelayOnFunctionsHost relay)
{
    private static readonly string[] Functions =
    [
        "Beacons", "BeaconsPreflight", "DeleteExpired", "HubSpotWebhooks", "KeepPoisonedBeacons", "KeepPoisonedScheduled", "MParticleSource", "OAuthCallback",
        "OAuthInstall", "OEmbed", "OperatorHealth", "OperatorView", "ProcessBeacons", "ProcessScheduled", "RefreshTokens", "SweepScheduledChecks",
    ];

    [HostFact]
    public void Every_function_is_indexed_with_its_queue_names_and_every_route_is_mapped()
    {
        var log = relay.Host.Log;
        var found = Regex.Match(log, @"Found the following functions:\s*\n((?:\s*Host\.Functions\.\w+\s*\n)+)").Groups[1].Value;
        Assert.Equal(Functions, found.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(f => f["Host.Functions.".Length..]).Order());
        Assert.DoesNotContain("failed indexing", log, StringComparison.Ordinal);
        foreach (var route in new[]
        {
            "'api/beacons' [post] to 'Beacons'", "'api/beacons' [options] to 'BeaconsPreflight'", "'api/sources/mparticle' [post] to 'MParticleSource'",
            "'api/oauth/install' [get] to 'OAuthInstall'", "'api/oauth/callback' [get] to 'OAuthCallback'", "'api/oembed' [get] to 'OEmbed'",
            "'api/operator' [get] to 'OperatorView'", "'api/operator/api/health' [get] to 'OperatorHealth'",
            "'api/hubspot/webhooks' [post] to 'HubSpotWebhooks'",
        })
        {
            Assert.Contains("Mapped function route " + route, log, StringComparison.Ordinal);
        }
    }

    [HostFact]
    public void The_queue_listener_runs_with_host_json_settings()
    {
        var queues = Regex.Match(relay.Host.Log, @"QueuesOptions\s*\n\s*(\{[^}]*\})").Groups[1].Value;
        using var options = JsonDocument.Parse(queues);
        var root = options.RootElement;
        Assert.Equal(16, root.GetProperty("BatchSize").GetInt32());
        Assert.Equal(8, root.GetProperty("NewBatchThreshold").GetInt32());
        Assert.Equal(5, root.GetProperty("MaxDequeueCount").GetInt32());
        Assert.Equal("00:00:02", root.GetProperty("MaxPollingInterval").GetString());
        Assert.Equal("00:00:02", root.GetProperty("VisibilityTimeout").GetString());
        Assert.Equal("Base64", root.GetProperty("MessageEncoding").GetString());
    }

    [HostFact]
    public async Task On_a_fresh_storage_account_the_app_makes_its_queues_and_tables_when_it_starts()
    {
        var queues = new List<string>();
        await foreach (var queue in relay.Storage.Queues.GetQueuesAsync())
            queues.Add(queue.Name);
        var tables = new List<string>();
        await foreach (var table in relay.Storage.Tables.QueryAsync())
            tables.Add(table.Name);

        Assert.Subset(queues.ToHashSet(), new HashSet<string> { "beacons", "beacons-poison", "beacons-scheduled", "beacons-scheduled-poison" });
        Assert.Subset(tables.ToHashSet(), new HashSet<string> { "sessions", "tokens", "deadletters", "mediaobjects", "quotas", "poisoned", "metrics", "schedule", "keys" });
        // Said in the host's log: what the relay made, each by name.
        Assert.Matches(@"Storage ready: queues beacons, beacons-poison, beacons-scheduled, beacons-scheduled-poison; tables sessions, tokens, [^\n]*\(made queue 'beacons'", relay.Host.Log);
        Assert.DoesNotContain("No XML encryptor configured", relay.Host.Log, StringComparison.Ordinal);
    }

    [HostFact]
    public async Task A_pages_beacons_reach_hubspot_after_the_oauth_install_through_the_hosts_routes()
    {
        const long Portal = 5101;
        var key = await relay.InstallAsync(Portal);
        var session = "host-page-" + Guid.NewGuid().ToString("N")[..8];

        var answer = await PostBeaconsAsync(Portal, session, key, ended: true);

        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        await relay.EventuallyAsync(() => relay.HubSpot.EventsOf(session).Count == 5, "played, three quartiles and the attention span at HubSpot");
        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "attention-span"], relay.HubSpot.EventsOf(session).Select(e => e.Key));
        Assert.All(relay.HubSpot.EventsOf(session), e => Assert.Equal(Portal, e.PortalId));
        // The relay's own lines are in the host's log (func start's console), each once.
        await relay.EventuallyAsync(() => relay.Host.Log.Contains($"Delivered attention-span of session {Portal}/{session}", StringComparison.Ordinal), "the relay's delivery line in the host's log");
        Assert.Contains($"Session {Portal}/{session}: 3 beacons merged", relay.Host.Log, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(relay.Host.Log, Regex.Escape($"Delivered played of session {Portal}/{session}")));
        foreach (var secret in relay.HubSpot.IssuedSecrets)
            Assert.DoesNotContain(secret, relay.Host.Log, StringComparison.Ordinal);
    }

    [HostFact]
    public async Task The_mparticle_source_takes_a_secret_keyed_batch_through_the_host()
    {
        const long Portal = 5102;
        await relay.InstallAsync(Portal);
        var secret = (await relay.Tokens.AddSecretKeyAsync(Portal, CancellationToken.None))!.Value.Key;
        var email = $"viewer-{Guid.NewGuid():N}@example.com";
        var contactId = relay.HubSpot.AddContactWithEmail(Portal, email);
        var session = "host-mp-" + Guid.NewGuid().ToString("N")[..8];
        var batch = MParticleBatches.RokuSession(session, DateTimeOffset.UtcNow.AddMinutes(-3).ToUnixTimeMilliseconds(), email: email);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/sources/mparticle") { Content = new StringContent(MParticleBatches.Json(batch), Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", secret);

        var answer = await relay.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        var expected = MParticleBatches.ExpectedEvents(Portal, session, batch, contactId);
        await relay.EventuallyAsync(() => relay.HubSpot.EventsOf(session).Count == expected.Count, $"the {expected.Count} events of the batch's session at HubSpot");
        Assert.Equal(expected.Select(e => e.Key).Order(), relay.HubSpot.EventsOf(session).Select(e => e.Key).Order());
        Assert.DoesNotContain(secret, relay.Host.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(email, relay.Host.Log, StringComparison.Ordinal);
    }

    [HostFact]
    public async Task A_signed_privacy_deletion_through_the_host_erases_the_contacts_session_and_an_unsigned_one_is_refused()
    {
        const long Portal = 5107;
        await relay.InstallAsync(Portal);
        var secret = (await relay.Tokens.AddSecretKeyAsync(Portal, CancellationToken.None))!.Value.Key;
        var email = $"forget-me-{Guid.NewGuid():N}@example.com";
        var contactId = relay.HubSpot.AddContactWithEmail(Portal, email);
        var session = "host-forget-" + Guid.NewGuid().ToString("N")[..8];
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/sources/mparticle")
        {
            Content = new StringContent(MParticleBatches.Json(MParticleBatches.RokuSession(session, DateTimeOffset.UtcNow.AddMinutes(-3).ToUnixTimeMilliseconds(), email: email)), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", secret);
        Assert.Equal(HttpStatusCode.Accepted, (await relay.Http.SendAsync(request)).StatusCode);
        await relay.EventuallyAsync(() => relay.HubSpot.EventsOf(session).Count == 7, "the session's events at HubSpot");
        var sessions = new SessionRepository(relay.Storage, Options.Create(new RelayOptions()), TimeProvider.System);
        var target = relay.Http.BaseAddress + "api/hubspot/webhooks";
        var body = FakeHubSpot.PrivacyDeletions(Portal, contactId);

        using var unsigned = await relay.Http.PostAsync("/api/hubspot/webhooks", new StringContent(body, Encoding.UTF8, "application/json"));
        using var forged = await FakeHubSpot.SendWebhookAsync(relay.Http, "/api/hubspot/webhooks", target, body, secret: "not-the-app-secret");
        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized), (unsigned.StatusCode, forged.StatusCode));
        Assert.NotNull(await sessions.GetAsync(Portal, session, CancellationToken.None));

        using var signed = await FakeHubSpot.SendWebhookAsync(relay.Http, "/api/hubspot/webhooks", target, body);
        Assert.Equal(HttpStatusCode.OK, signed.StatusCode);
        await relay.EventuallyAsync(async () => await sessions.GetAsync(Portal, session, CancellationToken.None) is null, "the contact's session erased");
        Assert.DoesNotContain(email, relay.Host.Log, StringComparison.OrdinalIgnoreCase);
    }

    [HostFact]
    public async Task The_operator_routes_answer_only_the_hosts_master_key()
    {
        await relay.InstallAsync(5103);

        var without = await relay.Http.GetAsync("/api/operator");
        using var withFunctionKey = new HttpRequestMessage(HttpMethod.Get, "/api/operator/api/health");
        withFunctionKey.Headers.Add("x-functions-key", relay.Host.FunctionKey);
        var functionKeyAnswer = await relay.Http.SendAsync(withFunctionKey);
        var page = await relay.Http.GetAsync($"/api/operator?code={Uri.EscapeDataString(relay.Host.MasterKey)}");
        using var health = new HttpRequestMessage(HttpMethod.Get, "/api/operator/api/health");
        health.Headers.Add("x-functions-key", relay.Host.MasterKey);
        var figures = await relay.Http.SendAsync(health);

        Assert.Equal(HttpStatusCode.Unauthorized, without.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, functionKeyAnswer.StatusCode);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<html", await page.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.OK, figures.StatusCode);
        using var json = JsonDocument.Parse(await figures.Content.ReadAsStringAsync());
        Assert.Contains(json.RootElement.GetProperty("portals").EnumerateArray(), portal => portal.GetProperty("portalId").GetInt64() == 5103);
    }

    [HostFact]
    public async Task The_oembed_route_embeds_only_the_allowed_hosts()
    {
        var allowed = await relay.Http.GetAsync("/api/oembed?url=" + Uri.EscapeDataString("https://cdn.example.com/watch/7"));
        var other = await relay.Http.GetAsync("/api/oembed?url=" + Uri.EscapeDataString("https://evil.example.net/watch/7"));

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        using var json = JsonDocument.Parse(await allowed.Content.ReadAsStringAsync());
        Assert.Equal("video", json.RootElement.GetProperty("type").GetString());
        Assert.Contains("src=\"https://cdn.example.com/watch/7\"", json.RootElement.GetProperty("html").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    [HostFact]
    public async Task A_message_that_fails_five_times_is_moved_to_the_poison_queue_and_kept()
    {
        var marker = "not a relay message " + Guid.NewGuid().ToString("N");
        var queue = new QueueClient(relay.Settings["AzureWebJobsStorage"], "beacons", new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        var sent = await queue.SendMessageAsync(marker);

        // Read as the relay command reads it: with the app's key ring, as the body is kept encrypted.
        var settings = new ConfigurationBuilder()
            .AddInMemoryCollection(relay.Settings.Select(s => KeyValuePair.Create(s.Key.Replace("__", ":", StringComparison.Ordinal), (string?)s.Value))).Build();
        await using var services = new ServiceCollection().AddLogging().AddRelay(settings).BuildServiceProvider();
        var poisoned = services.GetRequiredService<PoisonedMessageStore>();
        await relay.EventuallyAsync(
            async () => (await poisoned.ListAsync(null, null, CancellationToken.None)).Any(m => m.Body.ToString() == marker),
            "the poisoned message kept in table poisoned",
            seconds: 90);
        // The host's queue listener tried it maxDequeueCount (host.json: 5) times, then moved it.
        var attempts = Regex.Matches(relay.Host.Log, $@"MessageId: {sent.Value.MessageId}, DequeueCount: (\d+)").Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Equal([1, 2, 3, 4, 5], attempts.Order());
        Assert.Contains("Poisoned message", relay.Host.Log, StringComparison.Ordinal);
    }

    [HostFact]
    public async Task The_sweep_timer_ends_an_idle_session_whose_close_check_waits_in_the_schedule_table()
    {
        const long Portal = 5104;
        var key = await relay.InstallAsync(Portal);
        var session = "host-idle-" + Guid.NewGuid().ToString("N")[..8];

        Assert.Equal(HttpStatusCode.Accepted, (await PostBeaconsAsync(Portal, session, key, ended: false)).StatusCode);

        var schedule = relay.Storage.Tables.GetTableClient("schedule");
        var waiting = new List<string>();
        await relay.EventuallyAsync(
            async () => (waiting = await CloseChecksOfAsync(schedule, session)).Count > 0,
            "the session's close check waiting in table schedule (due later than Relay__ScheduledCheckTableAfter)");
        await relay.EventuallyAsync(() => relay.HubSpot.EventsOf(session).Any(e => e.Key == "attention-span"), "the idle session closed by the swept check: its attention span");
        Assert.Empty((await CloseChecksOfAsync(schedule, session)).Intersect(waiting));
    }

    [HostFact]
    public async Task The_refresh_timer_refreshes_a_token_that_expires_within_the_window()
    {
        const long Portal = 5105;
        relay.HubSpot.ExpiresInSeconds = 120;
        try
        {
            await relay.InstallAsync(Portal);
        }
        finally
        {
            relay.HubSpot.ExpiresInSeconds = 1800;
        }

        await relay.EventuallyAsync(
            async () => (await relay.Tokens.GetAsync(Portal, CancellationToken.None))?.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(20),
            "the portal's two-minute token refreshed by the RefreshTokens timer (every 2 s here) to a 30-minute one");
        Assert.Contains("Refreshed 1 HubSpot tokens ahead of expiry", relay.Host.Log, StringComparison.Ordinal);
    }

    [HostFact]
    public async Task A_missing_queue_or_table_is_answered_503_naming_it_and_logged_once()
    {
        const long Portal = 5106;
        var key = await relay.InstallAsync(Portal);
        var beacons = relay.Storage.Queues.GetQueueClient("beacons");
        var schedule = relay.Storage.Tables.GetTableClient("schedule");
        var deadLetters = relay.Storage.Tables.GetTableClient("deadletters");
        await beacons.DeleteAsync();
        await schedule.DeleteAsync();
        await deadLetters.DeleteAsync();
        var sweepFailuresBefore = Regex.Count(relay.Host.Log, "Executed 'Functions.SweepScheduledChecks' \\(Failed");
        try
        {
            var first = await PostBeaconsAsync(Portal, "host-missing-1", key, ended: true);
            var second = await PostBeaconsAsync(Portal, "host-missing-2", key, ended: true);
            using var health = new HttpRequestMessage(HttpMethod.Get, "/api/operator/api/health");
            health.Headers.Add("x-functions-key", relay.Host.MasterKey);
            var figures = await relay.Http.SendAsync(health);
            // Two sweeps (every 5 s) meet the missing schedule table.
            await Task.Delay(TimeSpan.FromSeconds(11));

            Assert.Equal(HttpStatusCode.ServiceUnavailable, first.StatusCode);
            Assert.Contains("queue 'beacons'", await first.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, figures.StatusCode);
            Assert.Contains("table 'deadletters'", await figures.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var log = relay.Host.Log;
            Assert.Single(Regex.Matches(log, "The relay's storage has no queue 'beacons'"));
            Assert.Single(Regex.Matches(log, "The relay's storage has no table 'schedule'"));
            Assert.Equal(sweepFailuresBefore, Regex.Count(log, "Executed 'Functions.SweepScheduledChecks' \\(Failed"));
        }
        finally
        {
            await beacons.CreateIfNotExistsAsync();
            await schedule.CreateIfNotExistsAsync();
            await deadLetters.CreateIfNotExistsAsync();
        }

        Assert.Equal(HttpStatusCode.Accepted, (await PostBeaconsAsync(Portal, "host-missing-3", key, ended: true)).StatusCode);
    }

    /// <summary>A player's session of a 20 s media: played 0-10 s, paused and, when <paramref name="ended"/>, ended.</summary>
    private async Task<HttpResponseMessage> PostBeaconsAsync(long portalId, string session, string key, bool ended)
    {
        var ts = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds();
        var beacons = new List<string>
        {
            $$$"""{"portalId":{{{portalId}}},"sessionId":"{{{session}}}","seq":0,"event":"play","ts":{{{ts}}},"position":0,"duration":20,"media":{"externalId":"{{{session}}}-media","name":"Host test","type":"VIDEO","url":"https://cdn.example.com/watch/{{{session}}}"},"contact":{"utk":"utk-{{{session}}}"}}""",
            $$$"""{"portalId":{{{portalId}}},"sessionId":"{{{session}}}","seq":1,"event":"pause","ts":{{{ts + 10_000}}},"position":10}""",
        };
        if (ended)
            beacons.Add($$$"""{"portalId":{{{portalId}}},"sessionId":"{{{session}}}","seq":2,"event":"end","ts":{{{ts + 11_000}}},"position":10}""");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/beacons") { Content = new StringContent("[" + string.Join(",", beacons) + "]", Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Relay-Key", key);
        return await relay.Http.SendAsync(request);
    }

    /// <summary>The rows of table schedule that hold a close check of the session.</summary>
    private static async Task<List<string>> CloseChecksOfAsync(TableClient schedule, string session)
    {
        var rows = new List<string>();
        await foreach (var row in schedule.QueryAsync<TableEntity>())
        {
            if (row.GetString("Message") is { } body && RelayMessage.TryParse(BinaryData.FromString(body)) is { Kind: RelayMessageKind.CloseCheck } check && check.SessionId == session)
                rows.Add(row.RowKey);
        }

        return rows;
    }
}
