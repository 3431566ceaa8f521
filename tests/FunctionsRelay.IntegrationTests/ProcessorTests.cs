using Azure.Data.Tables;
using FunctionsRelay.Domain.HubSpot;
using System.Text;
using System.Text.Json;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Ingest;
using FunctionsRelay.Infrastructure.Processing;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// The relay's services of <c>AddRelay()</c> on Azurite, driven one message at a time on a clock the test moves, as a
/// queue trigger would call them: for the decisions that hang on time (token reuse, closes under a backlog, delivery checks).
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ProcessorTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 6161;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly string _dryRunFile = Path.Combine(Path.GetTempPath(), $"processor-dry-run-{Guid.NewGuid():N}.jsonl");
    private ServiceProvider _services = null!;

    public override async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await base.DisposeAsync();
        File.Delete(_dryRunFile);
    }

    private async Task StartAsync(bool withHubSpot = false, Dictionary<string, string?>? settings = null, Action<IServiceCollection>? configure = null)
    {
        var values = IsolatedRelay.Settings(azurite, _dryRunFile);
        foreach (var (key, value) in (withHubSpot ? HubSpot.RelaySettings : []).Concat(settings ?? []))
            values[key] = value;
        _services = await IsolatedRelay.StartServicesAsync(values, services =>
        {
            services.AddSingleton<TimeProvider>(_time);
            configure?.Invoke(services);
        });
    }

    /// <summary>The dry-run sender, stopped dead (as a scale-in cancels a worker) while <see cref="Stopping"/> is set.</summary>
    private sealed class StoppableSender(DryRunMediaEventSender inner) : IMediaEventSender
    {
        public bool Stopping { get; set; }

        public Task<DeliveryResult> SendAsync(long portalId, string sessionId, PendingEvent pending, MediaObjectSpec? media, CancellationToken cancellationToken, DateTimeOffset? answerBy = null, CallPriority? priority = null) =>
            Stopping ? throw new OperationCanceledException("the worker was stopped") : inner.SendAsync(portalId, sessionId, pending, media, cancellationToken, answerBy, priority);
    }

    /// <summary>The dry-run sender, with something the test does while each send is in flight (given the send's number).</summary>
    private sealed class InFlightSender(DryRunMediaEventSender inner) : IMediaEventSender
    {
        private int _sends;

        public Func<int, Task> WhileSending { get; set; } = _ => Task.CompletedTask;

        public async Task<DeliveryResult> SendAsync(long portalId, string sessionId, PendingEvent pending, MediaObjectSpec? media, CancellationToken cancellationToken, DateTimeOffset? answerBy = null, CallPriority? priority = null)
        {
            await WhileSending(Interlocked.Increment(ref _sends));
            return await inner.SendAsync(portalId, sessionId, pending, media, cancellationToken, answerBy, priority);
        }
    }

    private T Service<T>()
        where T : notnull => _services.GetRequiredService<T>();

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private async Task IngestAsync(IEnumerable<string> beacons)
    {
        var result = await Service<BeaconIngestService>().IngestAsync(Encoding.UTF8.GetBytes(SessionBeacons.Json(beacons)), CancellationToken.None);
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
    }

    /// <summary>Takes the messages visible on both queues off them, as the triggers would, without handling them.</summary>
    private async Task<List<RelayMessage>> TakeVisibleAsync()
    {
        var taken = new List<RelayMessage>();
        foreach (var queue in new[] { Service<BeaconQueue>().Queue, Service<BeaconQueue>().Scheduled })
        {
            foreach (var message in (await queue.ReceiveMessagesAsync(32)).Value)
            {
                taken.Add(RelayMessage.Parse(message.Body));
                await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
            }
        }

        return taken;
    }

    private Task HandleAsync(RelayMessage message) =>
        Service<SessionProcessor>().HandleAsync(new BinaryData(message.ToUtf8Json()), CancellationToken.None);

    private async Task<ViewingSession> SessionAsync(string sessionId) =>
        (await Service<SessionRepository>().GetAsync(Portal, sessionId, CancellationToken.None))!.Session;

    private List<string> DryRunEvents(string sessionId) =>
        !File.Exists(_dryRunFile) ? [] : File.ReadAllLines(_dryRunFile)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Where(line => line.GetProperty("sessionId").GetString() == sessionId)
            .Select(line => line.GetProperty("event").GetString()!)
            .ToList();

    [Fact]
    public async Task An_idle_closed_session_whose_delivery_stopped_is_delivered_by_the_check_its_lease_left()
    {
        StoppableSender? sender = null;
        await StartAsync(
            settings: new() { ["Sessions:IdleTimeout"] = "00:00:02", ["Sessions:EndGracePeriod"] = "00:00:01", ["Relay:DeliveryLease"] = "00:00:02" },
            configure: services => services.AddSingleton<IMediaEventSender>(provider =>
                sender = new StoppableSender(provider.GetRequiredService<DryRunMediaEventSender>())));
        await IngestAsync(SessionBeacons.Typical(Portal, "stopped-1", withEnd: false).Beacons);
        foreach (var message in await TakeVisibleAsync())
            await HandleAsync(message);
        Assert.DoesNotContain("attention-span", DryRunEvents("stopped-1"));

        // The idle close: the worker closes the session, decides the attention span, takes the lease, saves, and is stopped.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        _time.Advance(TimeSpan.FromSeconds(3));
        sender!.Stopping = true;
        var closeCheck = Assert.Single(await TakeVisibleAsync(), m => m.Kind == RelayMessageKind.CloseCheck);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => HandleAsync(closeCheck));
        var stopped = await SessionAsync("stopped-1");
        Assert.True(stopped.IsClosed);
        Assert.Equal("attention-span", Assert.Single(stopped.Outbox).Key);

        // When the lease runs out, the check it left delivers the outbox.
        sender.Stopping = false;
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        _time.Advance(TimeSpan.FromSeconds(3));
        foreach (var message in await TakeVisibleAsync())
            await HandleAsync(message);

        Assert.Empty((await SessionAsync("stopped-1")).Outbox);
        Assert.Contains("attention-span", DryRunEvents("stopped-1"));
    }

    [Fact]
    public async Task Close_and_delivery_checks_wait_in_the_schedule_table_and_neither_trigger_queue_counts_them()
    {
        await StartAsync();
        await IngestAsync(SessionBeacons.Typical(Portal, "scheduled-1", withEnd: false).Beacons);
        var queue = Service<BeaconQueue>();

        foreach (var message in await TakeVisibleAsync())
            await HandleAsync(message);

        // What Azure's scale controller counts: both trigger queues are empty. The session's close check (at its idle
        // timeout) and the delivery check its delivery lease left (at the lease's end) wait in the table, due then.
        Assert.Equal(0, (await queue.Queue.GetPropertiesAsync()).Value.ApproximateMessagesCount);
        Assert.Equal(0, (await queue.Scheduled.GetPropertiesAsync()).Value.ApproximateMessagesCount);
        var waiting = Service<ScheduledCheckTable>().Table.Query<TableEntity>()
            .Select(row => (RelayMessage.Parse(BinaryData.FromString(row.GetString("Message"))).Kind, DueIn: row.GetInt64("DueAt")!.Value - _time.GetUtcNow().ToUnixTimeMilliseconds()))
            .OrderBy(check => check.Kind)
            .ToList();
        Assert.Equal([RelayMessageKind.CloseCheck, RelayMessageKind.Deliver], waiting.Select(check => check.Kind));
        Assert.Equal(TimeSpan.FromMinutes(30).TotalMilliseconds, waiting[0].DueIn, tolerance: 1_000);
        Assert.Equal(TimeSpan.FromMinutes(2).TotalMilliseconds, waiting[1].DueIn, tolerance: 1_000);

        // Swept when due (on the relay's clock): on the scheduled queue, the two checks in one message.
        _time.Advance(TimeSpan.FromMinutes(31));
        Assert.Equal(2, await Service<ScheduleSweeper>().SweepAsync(CancellationToken.None));
        var swept = Assert.Single((await queue.Scheduled.PeekMessagesAsync(32)).Value);
        Assert.Equal(RelayMessageKind.Checks, RelayMessage.Parse(swept.Body).Kind);
        Assert.Empty(Service<ScheduledCheckTable>().Table.Query<TableEntity>());
    }

    [Fact]
    public async Task A_token_is_read_again_after_30_seconds_or_at_once_after_a_401_not_for_every_event()
    {
        await StartAsync(withHubSpot: true);
        var store = Service<PortalTokenStore>();
        var tokens = Service<TokenService>();
        var (first, _) = await HubSpot.ConnectPortalAsync(store, Portal, TimeSpan.FromMinutes(30));
        Assert.Equal(first, await tokens.GetAccessTokenAsync(Portal, CancellationToken.None));

        // Another instance refreshes the token: this one goes on with the token it read, for a while.
        var (second, _) = await HubSpot.ConnectPortalAsync(store, Portal, TimeSpan.FromMinutes(30));
        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(first, await tokens.GetAccessTokenAsync(Portal, CancellationToken.None));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(second, await tokens.GetAccessTokenAsync(Portal, CancellationToken.None));

        // HubSpot refusing the token it holds makes it read the table at once, and take a newer token without refreshing.
        var (third, _) = await HubSpot.ConnectPortalAsync(store, Portal, TimeSpan.FromMinutes(30));
        Assert.Equal(third, await tokens.ReplaceRejectedTokenAsync(Portal, second, CancellationToken.None));
        Assert.Equal(0, HubSpot.Refreshes);
    }

    [Fact]
    public async Task An_idle_session_does_not_close_while_beacons_wait_in_a_queue_backlog()
    {
        await StartAsync(settings: new() { ["Sessions:IdleTimeout"] = "00:01:00" });
        await IngestAsync(SessionBeacons.Typical(Portal, "backlog-idle", withEnd: false).Beacons);
        foreach (var message in await TakeVisibleAsync())
            await HandleAsync(message);
        // Another session's beacons wait unprocessed while the idle timeout passes.
        await IngestAsync(SessionBeacons.Typical(Portal, "backlog-other").Beacons);
        _time.Advance(TimeSpan.FromSeconds(70));
        var dueAt = (await SessionAsync("backlog-idle")).CloseCheckAt;

        await HandleAsync(new RelayMessage(RelayMessageKind.CloseCheck, Portal, "backlog-idle", DueAt: dueAt));

        var postponed = await SessionAsync("backlog-idle");
        Assert.False(postponed.IsClosed);
        Assert.True(postponed.CloseCheckAt > Now, "the close is checked again once the backlog has been worked off");

        foreach (var message in await TakeVisibleAsync())
            await HandleAsync(message);
        _time.Advance(TimeSpan.FromMilliseconds(postponed.CloseCheckAt - Now));
        await HandleAsync(new RelayMessage(RelayMessageKind.CloseCheck, Portal, "backlog-idle", DueAt: postponed.CloseCheckAt));

        var closed = await SessionAsync("backlog-idle");
        Assert.True(closed.IsClosed);
        Assert.Equal(CloseReason.Idle, closed.CloseReason);
        Assert.Contains("attention-span", DryRunEvents("backlog-idle"));
    }

    [Fact]
    public async Task Events_waiting_on_another_workers_lease_get_one_delivery_check_however_many_messages_come()
    {
        await StartAsync(settings: new() { ["Relay:DeliveryLease"] = "00:00:02" });
        var session = SessionBeacons.Typical(Portal, "lease-held");
        await IngestAsync(session.Beacons.Take(2));
        foreach (var message in await TakeVisibleAsync())
            await HandleAsync(message);
        Assert.Equal(["played", "quartile-0"], DryRunEvents("lease-held"));

        // Another worker takes the delivery lease and is gone (crashed, or waiting out a 429).
        var repository = Service<SessionRepository>();
        var stored = (await repository.GetAsync(Portal, "lease-held", CancellationToken.None))!;
        stored.Session.DeliveryLeaseUntil = Now + 2000;
        await repository.SaveAsync(stored.Session, stored.ETag, CancellationToken.None);
        foreach (var part in session.Beacons.Skip(2).Chunk(3))
        {
            await IngestAsync(part);
            foreach (var message in await TakeVisibleAsync())
                await HandleAsync(message);
        }

        Assert.Equal(["played", "quartile-0"], DryRunEvents("lease-held"));
        await Task.Delay(TimeSpan.FromSeconds(3));
        _time.Advance(TimeSpan.FromSeconds(2));
        var checks = (await TakeVisibleAsync()).Where(m => m.Kind == RelayMessageKind.Deliver).ToList();

        var check = Assert.Single(checks);
        await HandleAsync(check);
        Assert.Equal(session.ExpectedEvents().Select(e => e.Key), DryRunEvents("lease-held"));
        Assert.Empty((await SessionAsync("lease-held")).Outbox);
    }

    [Fact]
    public async Task A_worker_whose_sends_outlast_its_lease_keeps_it_and_no_other_worker_sends_the_same_events()
    {
        await StartAsync(configure: services => services.AddSingleton<IMediaEventSender>(provider =>
            new InFlightSender(provider.GetRequiredService<DryRunMediaEventSender>())));
        var sender = (InFlightSender)Service<IMediaEventSender>();
        var session = SessionBeacons.Typical(Portal, "slow-sends");
        await IngestAsync(session.Beacons);
        var messages = await TakeVisibleAsync();
        // Each send takes 50 s (HubSpot's retries, a short 429 wait): the seven events take longer than the 2-minute lease.
        // During the third, the delivery check left for the lease's first end comes, handled by another worker.
        sender.WhileSending = async send =>
        {
            _time.Advance(TimeSpan.FromSeconds(50));
            if (send == 3)
                await HandleAsync(new RelayMessage(RelayMessageKind.Deliver, Portal, "slow-sends", DueAt: Now));
        };

        foreach (var message in messages)
            await HandleAsync(message);

        Assert.Equal(session.ExpectedEvents().Select(e => e.Key), DryRunEvents("slow-sends"));
        var done = await SessionAsync("slow-sends");
        Assert.Empty(done.Outbox);
        Assert.Equal((0, null), (done.DeliveryLeaseUntil, done.DeliveryLeaseOwner));
    }

    [Fact]
    public async Task Events_of_a_portal_without_a_token_wait_for_one_and_are_dead_lettered_after_the_give_up_time()
    {
        await StartAsync(withHubSpot: true, new()
        {
            ["HubSpot:NoTokenRetryDelay"] = "00:01:00",
            ["HubSpot:GiveUpWithoutTokenAfter"] = "00:03:00",
        });
        var session = SessionBeacons.Typical(Portal, "no-token");
        await IngestAsync(session.Beacons);
        foreach (var message in await TakeVisibleAsync())
            await HandleAsync(message);

        // The queue trigger calls the delivery checks the processor scheduled, a minute apart.
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            _time.Advance(TimeSpan.FromMinutes(1));
            await HandleAsync(new RelayMessage(RelayMessageKind.Deliver, Portal, "no-token", DueAt: Now, Attempt: attempt));
            Assert.Equal(session.ExpectedEvents().Count, (await SessionAsync("no-token")).Outbox.Count);
        }

        _time.Advance(TimeSpan.FromMinutes(1));
        await HandleAsync(new RelayMessage(RelayMessageKind.Deliver, Portal, "no-token", DueAt: Now, Attempt: 3));

        Assert.Empty((await SessionAsync("no-token")).Outbox);
        var letters = Service<DeadLetterStore>().Table.Query<Azure.Data.Tables.TableEntity>().ToList();
        Assert.Equal(session.ExpectedEvents().Select(e => e.Key).Order(), letters.Select(l => l.GetString("Event")).Order());
        Assert.All(letters, l => Assert.Contains("no usable token for about 00:03:00", l.GetString("Answer"), StringComparison.Ordinal));
        Assert.Empty(HubSpot.EventsOf("no-token"));
    }
}
