using System.Net;
using Azure.Data.Tables;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

[Collection(AzuriteCollection.Name)]
public sealed class PipelineTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 4242;

    private Task<(string AccessToken, string RefreshToken)> ConnectPortalAsync(RelayHost host, long portalId = Portal, TimeSpan? expiresIn = null) =>
        HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), portalId, expiresIn ?? TimeSpan.FromMinutes(30));

    private static List<(string Key, string Payload)> Received(FakeHubSpot hubSpot, string sessionId) =>
        hubSpot.EventsOf(sessionId).Select(e => (e.Key, e.ProviderPayload)).ToList();

    private void AssertNoSecretsLogged(RelayHost host)
    {
        var logs = string.Join("\n", host.Logs);
        Assert.NotEmpty(host.Logs);
        foreach (var secret in HubSpot.IssuedSecrets)
            Assert.False(logs.Contains(secret, StringComparison.Ordinal), "a token or the client secret was logged");
    }

    [Fact]
    public async Task A_whole_session_reaches_HubSpot_as_exactly_the_events_of_the_core()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await ConnectPortalAsync(host);
        var session = SessionBeacons.Typical(Portal, "whole-1");
        var expected = session.ExpectedEvents();

        var response = await host.Client.PostAsync("/api/beacons", session.Content());

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("{\"accepted\":10,\"ignored\":0}", await response.Content.ReadAsStringAsync());
        await host.EventuallyAsync(() => HubSpot.EventsOf("whole-1").Any(e => e.Key == "attention-span"), "the attention span reaches HubSpot");
        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "quartile-75", "quartile-100", "attention-span"], expected.Select(e => e.Key));
        Assert.Equal(expected, Received(HubSpot, "whole-1"));
        Assert.Empty(HubSpot.Refused);
        AssertNoSecretsLogged(host);
    }

    [Fact]
    public async Task Beacons_shuffled_and_duplicated_across_parallel_requests_give_exactly_the_core_events()
    {
        using var host = new RelayHost(azurite, HubSpot, new() { [$"{RelayHost.QueueSettings}:batchSize"] = "16" });
        await ConnectPortalAsync(host);
        var sessions = Enumerable.Range(1, 3).Select(i => SessionBeacons.Typical(Portal, $"shuffled-{i}")).ToList();
        var random = new Random(7);
        var arrivals = sessions.SelectMany(s => s.Beacons).SelectMany(b => random.Next(3) == 0 ? new[] { b, b } : [b]).ToArray();
        random.Shuffle(arrivals);
        var requests = arrivals.Chunk(4).Select(chunk => host.Client.PostAsync("/api/beacons", sessions[0].Content(chunk)));

        var responses = await Task.WhenAll(requests);

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        // Events decided together go out by value (played, attention span, quartiles): shuffled beacons may settle a
        // session's quartiles and its end at once, so the attention span may come before the last quartiles, and only
        // what was sent is compared, not its order.
        foreach (var session in sessions)
        {
            await host.EventuallyAsync(
                () => HubSpot.EventsOf(session.SessionId).Count >= session.ExpectedEvents().Count, $"{session.SessionId}'s events all reach HubSpot");
        }

        // A second later, nothing more (sent twice) has come.
        await Task.Delay(1000);
        foreach (var session in sessions)
            Assert.Equal(session.ExpectedEvents().Order(), Received(HubSpot, session.SessionId).Order());
    }

    [Fact]
    public async Task A_session_without_end_closes_after_the_idle_timeout()
    {
        using var host = new RelayHost(azurite, HubSpot, new() { ["Sessions:IdleTimeout"] = "00:00:03" });
        await ConnectPortalAsync(host);
        var session = SessionBeacons.Typical(Portal, "idle-1", withEnd: false);

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf("idle-1").Any(e => e.Key == "attention-span"), "the idle session closes");
        Assert.Equal(session.ExpectedEvents(), Received(HubSpot, "idle-1"));
    }

    [Fact]
    public async Task Checks_due_later_than_the_table_threshold_wait_in_the_schedule_table_not_on_the_queue_and_close_their_sessions_when_swept()
    {
        using var host = new RelayHost(azurite, HubSpot, new()
        {
            ["Sessions:IdleTimeout"] = "00:00:15",
            ["Relay:ScheduledCheckTableAfter"] = "00:00:02",
            ["Relay:ScheduleSweepInterval"] = "00:00:00.500",
            // Five sessions' events within a few seconds at most: the queue is empty long before they close.
            ["HubSpot:RequestsPerTenSeconds"] = "110",
        });
        await ConnectPortalAsync(host);
        var sessions = Enumerable.Range(1, 5).Select(i => SessionBeacons.Typical(Portal, $"waiting-{i}", withEnd: false)).ToList();

        await Task.WhenAll(sessions.Select(s => host.Client.PostAsync("/api/beacons", s.Content())));
        // Once the short waits are over (a media object being made by another session), the queue the scale controller sees is
        // empty while every open session's close check waits in the table.
        var scheduled = host.Service<BeaconQueue>().Scheduled;
        await host.EventuallyAsync(
            () => sessions.All(s => HubSpot.EventsOf(s.SessionId).Any(e => e.Key == "played")) && scheduled.GetProperties().Value.ApproximateMessagesCount == 0,
            "every session is played and the scheduled queue is empty");
        var open = sessions.Where(s => !HubSpot.EventsOf(s.SessionId).Any(e => e.Key == "attention-span")).Select(s => s.SessionId).ToList();
        var waiting = host.Service<ScheduledCheckTable>().Table.Query<TableEntity>()
            .Select(row => RelayMessage.Parse(BinaryData.FromString(row.GetString("Message"))))
            .Where(check => check.Kind == RelayMessageKind.CloseCheck)
            .Select(check => check.SessionId)
            .ToHashSet();
        Assert.NotEmpty(open);
        Assert.All(open, sessionId => Assert.Contains(sessionId, waiting));

        foreach (var session in sessions)
            await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Count == session.ExpectedEvents().Count, $"{session.SessionId} closes");
        foreach (var session in sessions)
            Assert.Equal(session.ExpectedEvents().Order(), Received(HubSpot, session.SessionId).Order());
        // The close checks were swept (what is left are the delivery leases' checks, due when the leases would run out).
        Assert.DoesNotContain(
            host.Service<ScheduledCheckTable>().Table.Query<TableEntity>(),
            row => RelayMessage.Parse(BinaryData.FromString(row.GetString("Message"))).Kind == RelayMessageKind.CloseCheck);
    }

    [Fact]
    public async Task A_beacon_after_the_close_is_dropped_with_a_warning_and_changes_no_event()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await ConnectPortalAsync(host);
        var session = SessionBeacons.Typical(Portal, "late-1");
        var expected = session.ExpectedEvents();
        await host.Client.PostAsync("/api/beacons", session.Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf("late-1").Any(e => e.Key == "attention-span"), "the session closes");

        // The same beacons again (a player retrying) are duplicates; one more after the end comes too late.
        session.Add("heartbeat", 70, 40);
        var response = await host.Client.PostAsync("/api/beacons", session.Content());

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await host.EventuallyAsync(
            () => host.Logs.Any(line => line.StartsWith("Warning", StringComparison.Ordinal) && line.Contains("late-1: 0 beacons merged, 10 duplicates, 1 dropped as they came after the session closed", StringComparison.Ordinal)),
            "the late beacon is reported");
        Assert.Equal(expected, Received(HubSpot, "late-1"));
    }

    [Fact]
    public async Task Bursts_of_429_and_500_lose_nothing_and_duplicate_nothing()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await ConnectPortalAsync(host);
        HubSpot.AnswerNextEvents(429, 2, retryAfterSeconds: 2);
        HubSpot.AnswerNextEvents(500, 5);
        HubSpot.AnswerNextEvents(429, 1, retryAfterSeconds: 1);
        var session = SessionBeacons.Typical(Portal, "bursts-1");

        await host.Client.PostAsync("/api/beacons", session.Content());

        var expected = session.ExpectedEvents();
        await host.EventuallyAsync(() => HubSpot.EventsOf("bursts-1").Count >= expected.Count, "every event gets through", seconds: 60);
        await Task.Delay(1500);
        // The played event leads; after it, a quartile refused by a burst lets its session's attention span go
        // first (value order, docs/hubspot.md), so the rest is compared in any order.
        var received = Received(HubSpot, "bursts-1");
        Assert.Equal("played", received[0].Key);
        Assert.Equal(expected.Order(), received.Order());
        Assert.Contains(host.Logs, line => line.Contains("429", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_expired_token_is_refreshed_before_use_and_a_refused_one_once_on_401()
    {
        using var host = new RelayHost(azurite, HubSpot);
        var (access, _) = await ConnectPortalAsync(host, expiresIn: TimeSpan.FromSeconds(-5));
        var expired = SessionBeacons.Typical(Portal, "expired-1");

        await host.Client.PostAsync("/api/beacons", expired.Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf("expired-1").Any(e => e.Key == "attention-span"), "events go through after the refresh");
        Assert.Equal(1, HubSpot.Refreshes);
        var refreshed = await host.Service<PortalTokenStore>().GetAsync(Portal, CancellationToken.None);
        Assert.NotEqual(access, refreshed!.AccessToken);
        Assert.True(refreshed.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(20));

        HubSpot.RevokeAccessToken(refreshed.AccessToken);
        var refused = SessionBeacons.Typical(Portal, "refused-1");
        await host.Client.PostAsync("/api/beacons", refused.Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf("refused-1").Any(e => e.Key == "attention-span"), "events go through after the 401 refresh");
        Assert.Equal(2, HubSpot.Refreshes);
        Assert.Equal(refused.ExpectedEvents(), Received(HubSpot, "refused-1"));
        AssertNoSecretsLogged(host);
    }

    [Fact]
    public async Task The_token_refresher_refreshes_tokens_expiring_within_the_window_only()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await ConnectPortalAsync(host, 1001, TimeSpan.FromMinutes(5));
        await ConnectPortalAsync(host, 1002, TimeSpan.FromMinutes(50));

        var refreshed = await host.Service<TokenService>().RefreshExpiringAsync(CancellationToken.None);

        Assert.Equal(1, refreshed);
        var store = host.Service<PortalTokenStore>();
        Assert.True((await store.GetAsync(1001, CancellationToken.None))!.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(25));
        Assert.True((await store.GetAsync(1002, CancellationToken.None))!.ExpiresAt < DateTimeOffset.UtcNow.AddMinutes(51));
    }

    [Fact]
    public async Task A_revoked_refresh_token_marks_the_portal_disconnected_and_keeps_the_session()
    {
        using var host = new RelayHost(azurite, HubSpot);
        var (_, refresh) = await ConnectPortalAsync(host, expiresIn: TimeSpan.FromSeconds(-5));
        HubSpot.RevokeRefreshToken(refresh);
        var session = SessionBeacons.Typical(Portal, "revoked-1");

        await host.Client.PostAsync("/api/beacons", session.Content());

        var store = host.Service<PortalTokenStore>();
        await host.EventuallyAsync(
            () => store.GetAsync(Portal, CancellationToken.None).GetAwaiter().GetResult()?.Status == PortalStatus.Disconnected,
            "the portal is marked disconnected");
        var sessions = host.Service<SessionRepository>();
        await host.EventuallyAsync(
            () => sessions.GetAsync(Portal, "revoked-1", CancellationToken.None).GetAwaiter().GetResult()?.Session.Outbox.Count == 7,
            "the session keeps all seven events");
        Assert.Empty(HubSpot.EventsOf("revoked-1"));
        AssertNoSecretsLogged(host);
    }

    [Theory]
    [InlineData("numbers-from-1")]
    [InlineData("first-request-lost")]
    public async Task A_gap_in_seq_holds_the_played_event_only_for_the_reorder_window_not_until_the_close(string player)
    {
        using var host = new RelayHost(azurite, HubSpot, new() { ["Sessions:ReorderWindow"] = "00:00:02" });
        await ConnectPortalAsync(host);
        var session = player == "numbers-from-1"
            ? new SessionBeacons(Portal, player, firstSeq: 1).Add("start", 0, null).Add("play", 0.5, 0).Add("heartbeat", 10.5, 10)
            : new SessionBeacons(Portal, player, identityAt: 1).Add("start", 0, null).Add("play", 0.5, 0).Add("heartbeat", 10.5, 10);
        var sent = session.Beacons.Skip(player == "first-request-lost" ? 1 : 0).ToList();

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await host.Client.PostAsync("/api/beacons", session.Content(sent));

        // The session stays open (idle timeout: 30 minutes); its played event comes after the 2 s window.
        await host.EventuallyAsync(() => HubSpot.EventsOf(player).Any(e => e.Key == "played"), "the played event reaches HubSpot", seconds: 15);
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) >= TimeSpan.FromSeconds(2), "the played event did not wait for the missing seq");
        Assert.DoesNotContain(HubSpot.EventsOf(player), e => e.Key == "attention-span");
    }

    [Fact]
    public async Task A_message_that_fails_five_times_lands_in_the_poison_queue()
    {
        using var host = new RelayHost(azurite, HubSpot);
        var queue = host.Service<BeaconQueue>();

        await queue.Queue.SendMessageAsync(BinaryData.FromString("{\"not\":\"a relay message\"}"));

        var store = host.Service<PoisonedMessageStore>();
        await host.EventuallyAsync(
            () => store.ListAsync(null, null, CancellationToken.None).GetAwaiter().GetResult().Count == 1,
            "the message is moved to the poison queue and kept for the operator");
        var poisoned = Assert.Single(await store.ListAsync(null, null, CancellationToken.None));
        Assert.Equal("{\"not\":\"a relay message\"}", poisoned.Body.ToString());
        Assert.Equal((queue.Queue.Name, null, null), (poisoned.Queue, poisoned.PortalId, poisoned.SessionId));
        Assert.Equal(5, host.Logs.Count(line => line.Contains("Executed 'ProcessBeacons' (Failed", StringComparison.Ordinal)));
        Assert.Contains(host.Logs, line => line.StartsWith("Error", StringComparison.Ordinal)
            && line.Contains($"Poisoned message {poisoned.MessageId} of queue {queue.Queue.Name}: portal unknown, session unknown, 0 beacons (unreadable)", StringComparison.Ordinal));
        Assert.Null((await queue.PoisonQueue.PeekMessageAsync()).Value);
    }

    [Fact]
    public async Task A_rejected_event_larger_than_a_table_property_is_dead_lettered_whole_and_the_events_behind_it_go()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await ConnectPortalAsync(host);
        HubSpot.AnswerNextEvents(400, 1);
        // Valid names of 1,000 emoji (2,000 characters), each escaped to 12 in the JSON payload: over the 64 KiB a table string may hold.
        var name = string.Concat(Enumerable.Repeat("\U0001F600", 1000));
        var media = $$"""{"externalId":"{{name}}","name":"{{name}}","url":"https://cdn.example.com/{{name}}.mp4","type":"VIDEO"}""";
        var session = SessionBeacons.Typical(Portal, "big-letter", media: media);

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf("big-letter").Any(e => e.Key == "attention-span"), "the events behind the rejected one go through");
        var letter = Assert.Single(host.Service<DeadLetterStore>().Table.Query<TableEntity>());
        var payload = DeadLetterStore.PayloadOf(letter);
        Assert.True(payload.Length > 32 * 1024, $"the payload is {payload.Length} characters");
        Assert.Equal(name, System.Text.Json.JsonDocument.Parse(payload).RootElement.GetProperty("mediaName").GetString());
        Assert.Equal(6, HubSpot.EventsOf("big-letter").Count);
    }

    [Fact]
    public async Task A_rejected_event_is_dead_lettered_with_hubspots_answer_and_not_retried()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await ConnectPortalAsync(host);
        HubSpot.AnswerNextEvents(400, 1);
        var session = SessionBeacons.Typical(Portal, "rejected-1");

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf("rejected-1").Any(e => e.Key == "attention-span"), "the other events go through");
        var deadLetters = host.Service<DeadLetterStore>().Table.Query<TableEntity>().ToList();
        var letter = Assert.Single(deadLetters);
        Assert.Equal("played", letter.GetString("Event"));
        Assert.Equal(400, letter.GetInt32("Status"));
        Assert.Contains("INTERNAL_ERROR", letter.GetString("Answer"), StringComparison.Ordinal);
        Assert.DoesNotContain(HubSpot.EventsOf("rejected-1"), e => e.Key == "played");
    }
}
