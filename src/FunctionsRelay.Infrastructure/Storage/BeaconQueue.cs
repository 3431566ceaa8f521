using Azure.Storage.Queues;
using FunctionsRelay.Domain.Beacons;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>
/// The <c>beacons</c> queue (one message per session group) and the <c>beacons-scheduled</c> queue (close and delivery
/// checks, invisible until due), Base64-encoded as the Functions queue trigger expects.
/// </summary>
public sealed class BeaconQueue(StorageClients clients, ScheduledCheckTable waiting, IOptions<RelayOptions> options, TimeProvider time)
{
    /// <summary>Due checks that were waiting in the schedule table go on the queue this many to a message.</summary>
    public const int ChecksPerMessage = 32;

    /// <summary>Base64 turns 48,000 bytes into 64,000 characters, inside the 64 KiB a queue message may hold.</summary>
    internal const int MaxMessageBytes = 48_000;

    /// <summary>Azure Storage delays a message by at most 7 days.</summary>
    private static readonly TimeSpan MaxDelay = TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1);

    private readonly QueueClient _ingest = clients.IngestQueues.GetQueueClient(options.Value.BeaconQueue);

    public QueueClient Queue { get; } = clients.Queues.GetQueueClient(options.Value.BeaconQueue);

    public QueueClient PoisonQueue { get; } = clients.Queues.GetQueueClient(options.Value.PoisonQueue);

    public QueueClient Scheduled { get; } = clients.Queues.GetQueueClient(options.Value.ScheduleQueue);

    public QueueClient ScheduledPoison { get; } = clients.Queues.GetQueueClient(options.Value.SchedulePoisonQueue);

    public async Task CreateIfNotExistsAsync(CancellationToken cancellationToken)
    {
        foreach (var queue in new[] { Queue, PoisonQueue, Scheduled, ScheduledPoison })
            await queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Queues the beacons, one message per session (split where a session's beacons would not fit one message); a player's
    /// summary of a session goes with that session's message (after its beacons), or alone. Each message says who sent
    /// it (<paramref name="source"/>, <see cref="RelayMessage.Source"/>).
    /// </summary>
    public async Task<int> EnqueueAsync(IReadOnlyList<Beacon> beacons, IReadOnlyList<PlaybackSummary> summaries, string? source, CancellationToken cancellationToken)
    {
        var reported = summaries.GroupBy(s => (s.PortalId, s.SessionId)).ToDictionary(g => g.Key, g => g.Last());
        var sessions = beacons.GroupBy(beacon => (beacon.PortalId, beacon.SessionId)).ToList();
        var withBeacons = sessions.Select(group => group.Key).ToHashSet();
        var receivedAt = time.GetUtcNow().ToUnixTimeMilliseconds();
        var messages = sessions
            .SelectMany(group => Fit(new RelayMessage(
                RelayMessageKind.Beacons, group.Key.PortalId, group.Key.SessionId, group.ToList(), Reported: reported.GetValueOrDefault(group.Key), ReceivedAt: receivedAt, Source: source)))
            .Concat(reported
                .Where(summary => !withBeacons.Contains(summary.Key))
                .Select(summary => new RelayMessage(RelayMessageKind.Beacons, summary.Key.PortalId, summary.Key.SessionId, [], Reported: summary.Value, ReceivedAt: receivedAt, Source: source).ToUtf8Json()))
            .ToList();
        await Task.WhenAll(messages.Select(message => _ingest.SendMessageAsync(new BinaryData(message), cancellationToken: cancellationToken)));
        return messages.Count;
    }

    /// <summary>
    /// The beacons too large to go in a queue message of their own once encoded (long strings of characters JSON escapes):
    /// each is refused at ingest with the reason, since a message storage refuses would be retried for ever.
    /// </summary>
    public static IEnumerable<string> Oversized(IReadOnlyList<Beacon> beacons)
    {
        foreach (var beacon in beacons)
        {
            var size = new RelayMessage(
                RelayMessageKind.Beacons, beacon.PortalId, beacon.SessionId, [beacon], ReceivedAt: DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()).ToUtf8Json().Length;
            if (size > MaxMessageBytes)
            {
                yield return $"the {beacon.Event.ToString().ToLowerInvariant()} beacon{(beacon.Seq is { } seq ? $" (seq {seq})" : "")} of session " +
                    $"{beacon.SessionId}: is {size} bytes once queued; at most {MaxMessageBytes} are accepted (shorten its strings)";
            }
        }
    }

    /// <summary>
    /// Queues a privacy deletion (<see cref="RelayMessageKind.Forget"/>) on the scheduled queue, visible after
    /// <paramref name="after"/>: never in the schedule table, whose sweep bundles close and delivery checks only.
    /// </summary>
    public Task EnqueueForgetAsync(RelayMessage forget, TimeSpan after, CancellationToken cancellationToken) =>
        Scheduled.SendMessageAsync(new BinaryData(forget.ToUtf8Json()), visibilityTimeout: after, cancellationToken: cancellationToken);

    /// <summary>
    /// Schedules a check for <paramref name="dueAt"/> (relay clock, ms): on the scheduled queue, invisible until then, or,
    /// due later than <c>Relay__ScheduledCheckTableAfter</c>, in the schedule table until a sweep finds it due.
    /// </summary>
    public Task ScheduleAsync(RelayMessage message, long dueAt, CancellationToken cancellationToken) =>
        ScheduleAsync(message, dueAt, options.Value.ScheduledCheckTableAfter, cancellationToken);

    /// <summary>
    /// Schedules a delivery that waits for HubSpot (the portal's budget, a 429, an outage): in the schedule table once
    /// its wait is longer than a sweep (<c>Relay__ScheduleSweepInterval</c>). Such a wait is no work that more instances
    /// would do sooner, so it must not count on the scheduled queue, whose length the scale controller scales by; under
    /// a portal's backlog most open sessions have one. It is at most a sweep late, as checks of the table are.
    /// </summary>
    public Task ScheduleRetryAsync(RelayMessage message, long dueAt, CancellationToken cancellationToken) =>
        ScheduleAsync(message, dueAt, TimeSpan.FromTicks(Math.Min(options.Value.ScheduledCheckTableAfter.Ticks, options.Value.ScheduleSweepInterval.Ticks)), cancellationToken);

    private async Task ScheduleAsync(RelayMessage message, long dueAt, TimeSpan tableAfter, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(Math.Max(0, dueAt - time.GetUtcNow().ToUnixTimeMilliseconds()));
        if (tableAfter > TimeSpan.Zero && delay > tableAfter)
        {
            await waiting.AddAsync(message, dueAt, cancellationToken);
            return;
        }

        await Scheduled.SendMessageAsync(
            new BinaryData((message with { DueAt = dueAt }).ToUtf8Json()),
            visibilityTimeout: delay < MaxDelay ? delay : MaxDelay,
            cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Puts checks that are due on the scheduled queue, visible at once: up to <see cref="ChecksPerMessage"/> to a message,
    /// and fewer where long session ids would take a message past what a queue message holds.
    /// </summary>
    public Task EnqueueDueAsync(IReadOnlyList<RelayMessage> checks, CancellationToken cancellationToken) =>
        Task.WhenAll(ChecksMessages(checks).Select(message => Scheduled.SendMessageAsync(new BinaryData(message), cancellationToken: cancellationToken)));

    /// <summary>The checks as messages of at most <see cref="ChecksPerMessage"/> checks and <see cref="MaxMessageBytes"/> bytes each.</summary>
    internal static IEnumerable<byte[]> ChecksMessages(IReadOnlyList<RelayMessage> checks)
    {
        var chunk = new List<RelayMessage>();
        var bytes = 0;
        foreach (var check in checks)
        {
            // A check is its kind, portal, session and due time: anything else a message carried (a player's summary) stays out.
            var bare = new RelayMessage(check.Kind, check.PortalId, check.SessionId, DueAt: check.DueAt, Attempt: check.Attempt);
            var size = bare.ToUtf8Json().Length + 1;
            if (chunk.Count > 0 && (chunk.Count == ChecksPerMessage || bytes + size + MessageOverhead > MaxMessageBytes))
            {
                yield return Checks(chunk);
                (chunk, bytes) = ([], 0);
            }

            chunk.Add(bare);
            bytes += size;
        }

        if (chunk.Count > 0)
            yield return Checks(chunk);

        static byte[] Checks(List<RelayMessage> chunk) =>
            new RelayMessage(RelayMessageKind.Checks, chunk[0].PortalId, chunk[0].SessionId, Checks: chunk).ToUtf8Json();
    }

    /// <summary>What a Checks message adds around its checks: its own kind, portal and first session id (escaped, at most 128 characters).</summary>
    private const int MessageOverhead = 2_000;

    /// <summary>
    /// How long the oldest beacons still waiting in the queue have waited (zero when none wait): a backlog the processor
    /// has not reached yet. (Scheduled checks put there by a build before the scheduled queue existed are left out.)
    /// </summary>
    public async Task<TimeSpan> BacklogAsync(CancellationToken cancellationToken)
    {
        var peeked = await Queue.PeekMessagesAsync(maxMessages: 32, cancellationToken);
        var oldest = DateTimeOffset.MaxValue;
        foreach (var message in peeked.Value)
        {
            if (message.InsertedOn is { } inserted && inserted < oldest && IsBeacons(message.Body))
                oldest = inserted;
        }

        return oldest == DateTimeOffset.MaxValue ? TimeSpan.Zero : time.GetUtcNow() - oldest;
    }

    private static bool IsBeacons(BinaryData body) => RelayMessage.TryParse(body)?.Kind == RelayMessageKind.Beacons;

    private static IEnumerable<byte[]> Fit(RelayMessage message)
    {
        var json = message.ToUtf8Json();
        if (json.Length <= MaxMessageBytes || message.Beacons!.Count == 1)
            return [json];
        var half = message.Beacons.Count / 2;
        return Fit(message with { Beacons = message.Beacons.Take(half).ToList(), Reported = null })
            .Concat(Fit(message with { Beacons = message.Beacons.Skip(half).ToList() }));
    }
}
