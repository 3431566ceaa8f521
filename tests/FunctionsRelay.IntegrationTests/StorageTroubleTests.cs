using System.Net;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// Storage that fails requests for a while (a failover, a restart, throttling), between the relay and Azurite: the relay
/// waits it out instead of failing the message, which would need storage to hand it back and could send events twice.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class StorageTroubleTests(Azurite azurite) : IAsyncLifetime
{
    private const long Portal = 5151;

    /// <summary>More failures in a row than the Azure SDK's default three retries take.</summary>
    private const int FailuresInARow = 5;

    private FakeHubSpot _hubSpot = null!;
    private StorageProxy _storage = null!;

    public async Task InitializeAsync()
    {
        _hubSpot = await FakeHubSpot.StartAsync();
        _storage = await StorageProxy.StartAsync(azurite.QueuePort, azurite.TablePort);
    }

    public async Task DisposeAsync()
    {
        await _storage.DisposeAsync();
        await _hubSpot.DisposeAsync();
    }

    private async Task<RelayHost> StartRelayAsync(Dictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = _storage.ConnectionString,
            ["Relay:StorageRetryDelay"] = "00:00:00.050",
        };
        foreach (var (key, value) in settings ?? [])
            all[key] = value;
        var host = new RelayHost(azurite, _hubSpot, all);
        await _hubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        return host;
    }

    private long FailedOnPurpose(string kind) => _storage.Snapshot().GetValueOrDefault($"{kind} failed on purpose (503)");

    [Theory]
    [InlineData(413, 413)]
    [InlineData(400, 400)]
    public async Task Storage_refusing_the_beacons_themselves_is_answered_as_the_requests_fault_not_as_send_again(int storageAnswers, int playerGets)
    {
        using var host = await StartRelayAsync();
        // More failures than ingest's short retries take: what storage answers is the answer.
        _storage.FailNext(kind => kind == "queue put", 10, storageAnswers);

        var answer = await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, $"refused-{storageAnswers}").Content());

        Assert.Equal(playerGets, (int)answer.StatusCode);
        var error = await answer.Content.ReadAsStringAsync();
        Assert.Contains("sending them again would be refused again", error, StringComparison.Ordinal);
        Assert.Null(answer.Headers.RetryAfter);
    }

    [Fact]
    public async Task A_quota_count_other_instances_keep_busy_asks_again_and_drops_nothing()
    {
        using var host = await StartRelayAsync();
        var session = SessionBeacons.Typical(Portal, "contended-hold");
        _hubSpot.AnonymousUtks["utk-contended-hold"] = true;
        // As the look-up of the viewer answers "no contact", every write of a count is refused as another instance's
        // would make it (409 for the first row, 412 after), more times than the count tries.
        var armed = 0;
        _hubSpot.Interceptor = (call, answered) =>
        {
            if (answered && call.Contains("/contact/utk/", StringComparison.Ordinal) && Interlocked.Exchange(ref armed, 1) == 0)
                _storage.FailNext(kind => kind is "table insert" or "table upsert", 25, StatusCodes.Status409Conflict);
            return Task.FromResult(false);
        };

        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsync("/api/beacons", session.Content())).StatusCode);

        var sessions = host.Service<SessionRepository>();
        await host.EventuallyAsync(
            () => sessions.GetAsync(Portal, session.SessionId, CancellationToken.None).GetAwaiter().GetResult()?.Session is { AnonymousHeldSince: > 0 } or { Refused: not FunctionsRelay.Domain.Sessions.SessionRefusal.None },
            "the session held (or refused a hold)");
        var stored = (await sessions.GetAsync(Portal, session.SessionId, CancellationToken.None))!.Session;
        Assert.True(stored.Refused == FunctionsRelay.Domain.Sessions.SessionRefusal.None, "a count too busy to settle dropped the session's events");
        Assert.True(stored.AnonymousHeldSince > 0);
    }

    [Fact]
    public async Task An_event_HubSpot_accepted_is_recorded_through_storage_trouble_and_not_sent_again()
    {
        using var host = await StartRelayAsync();
        var session = SessionBeacons.Typical(Portal, "trouble-delivered");
        var struck = 0;
        // Right after HubSpot accepts the played event, the save that records it fails five times.
        _hubSpot.OnAccepted = received =>
        {
            if (received.Key == "played" && Interlocked.Exchange(ref struck, 1) == 0)
                _storage.FailNext(kind => kind == "table upsert", FailuresInARow);
        };

        var response = await host.Client.PostAsync("/api/beacons", session.Content());

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await host.EventuallyAsync(() => _hubSpot.EventsOf(session.SessionId).Any(e => e.Key == "attention-span"), "the session's events reach HubSpot");
        await Task.Delay(1000);
        Assert.Equal(FailuresInARow, FailedOnPurpose("table upsert"));
        Assert.Equal(session.ExpectedEvents(), _hubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
        Assert.DoesNotContain(host.Logs, line => line.Contains("will be retried", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_message_goes_through_in_its_first_attempt_while_storage_fails_reads_and_hand_backs()
    {
        using var host = await StartRelayAsync();
        var session = SessionBeacons.Typical(Portal, "trouble-merged");
        // Storage is down for reads and for handing a message back: a message given up on would wait out its whole lease.
        _storage.FailNext(kind => kind == "table read", FailuresInARow);
        _storage.FailNext(kind => kind == "queue update", FailuresInARow);

        var response = await host.Client.PostAsync("/api/beacons", session.Content());

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await host.EventuallyAsync(() => _hubSpot.EventsOf(session.SessionId).Any(e => e.Key == "attention-span"), "the session's events reach HubSpot");
        await Task.Delay(1000);
        Assert.Equal(FailuresInARow, FailedOnPurpose("table read"));
        Assert.Equal(session.ExpectedEvents(), _hubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
        Assert.DoesNotContain(host.Logs, line => line.Contains("will be retried", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_handled_message_whose_delete_answer_is_lost_is_not_taken_for_a_failure()
    {
        using var host = await StartRelayAsync();
        var session = SessionBeacons.Typical(Portal, "trouble-deleted");
        // The delete goes through, its answer does not: the SDK sends it again and hears that the message is gone.
        _storage.LoseAnswerOfNext(kind => kind == "queue delete");

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => _hubSpot.EventsOf(session.SessionId).Any(e => e.Key == "attention-span"), "the session's events reach HubSpot");
        await host.EventuallyAsync(() => _storage.Snapshot().ContainsKey("queue delete answer lost on purpose (503)"), "a delete answer is lost");
        await Task.Delay(1000);
        Assert.Equal(session.ExpectedEvents(), _hubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
        Assert.DoesNotContain(host.Logs, line => line.StartsWith("Warning FunctionsRelay.Local", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ingest_answers_503_while_storage_is_down_and_accepts_the_same_beacons_after()
    {
        using var host = await StartRelayAsync();
        var session = SessionBeacons.Typical(Portal, "trouble-ingest");
        _storage.Disconnect();

        var refused = await host.Client.PostAsync("/api/beacons", session.Content());
        _storage.Reconnect();
        var accepted = await host.Client.PostAsync("/api/beacons", session.Content());

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("send the beacons again", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        await host.EventuallyAsync(() => _hubSpot.EventsOf(session.SessionId).Any(e => e.Key == "attention-span"), "the session's events reach HubSpot");
        Assert.Equal(session.ExpectedEvents(), _hubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
    }
    [Fact]
    public async Task Ingest_answers_503_not_500_when_storage_cannot_be_reached_at_all()
    {
        // The relay's own storage endpoint, closed once it has started: connections are refused, no HTTP answer at all.
        var closing = await StorageProxy.StartAsync(azurite.QueuePort, azurite.TablePort);
        using var host = new RelayHost(azurite, _hubSpot, new() { ["AzureWebJobsStorage"] = closing.ConnectionString, ["Relay:StorageRetryDelay"] = "00:00:00.050" });
        await _hubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var key = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key;
        var stopping = host.Service<IHostApplicationLifetime>().ApplicationStopping;
        await closing.DisposeAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/beacons") { Content = SessionBeacons.Typical(Portal, "unreachable").Content() };
        request.Headers.Add(FunctionsRelay.Infrastructure.Http.BeaconEndpoint.KeyHeader, key);

        var refused = await host.RawClient.SendAsync(request);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("5", refused.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("send the beacons again", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The queue listener's polls fail past the SDK's retries: the relay says so and stops, as the Functions host
        // does, rather than ending the process from a background thread (which would end this test run too).
        await host.EventuallyAsync(
            () => host.Logs.Any(line => line.Contains("The queue listener failed", StringComparison.Ordinal) && line.Contains("the relay stops, as the Functions host does", StringComparison.Ordinal)),
            "the listener's failure is logged", seconds: 90);
        Assert.True(stopping.IsCancellationRequested);
    }
}
