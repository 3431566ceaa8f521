using Azure;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Processing;

/// <summary>
/// Handles the messages of the beacon queue. Every change to a session is load, change, save-if-unchanged (ETag), redone
/// on conflict, so parallel messages of one session never lose a beacon. Events are decided exactly once (the decision is
/// saved with the session, in its outbox) and delivered at least once: a worker takes a delivery lease on the session,
/// sends each pending event and removes it from the outbox. Only a crash, or storage unavailable for longer than its
/// retries wait (about half a minute), between HubSpot's answer and that removal can send an event twice.
/// </summary>
public sealed class SessionProcessor(
    SessionRepository sessions,
    BeaconQueue queue,
    IMediaEventSender sender,
    IEnumerable<IDeliveryObserver> observers,
    OEmbedEndpoint oembed,
    ViewerGate viewers,
    RelayMetrics metrics,
    DeadLetterStore deadLetters,
    IOptions<SessionOptions> sessionOptions,
    IOptions<RelayOptions> relayOptions,
    IOptions<HubSpotOptions> hubSpotOptions,
    TimeProvider time,
    ILogger<SessionProcessor> logger)
{
    /// <summary>Beacons that have waited this long in the queue mean a backlog, which idle sessions must not close ahead of.</summary>
    private static readonly TimeSpan BacklogTolerance = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MinRetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromHours(1);
    private static readonly TimeSpan MaxHeldCheckDelay = TimeSpan.FromDays(1);

    private SessionOptions Options => sessionOptions.Value;

    private long LeaseMilliseconds => (long)relayOptions.Value.DeliveryLease.TotalMilliseconds;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Handles one queue message. Throws for a message it cannot read, so the queue retries it and then poisons it.</summary>
    public Task HandleAsync(BinaryData body, CancellationToken cancellationToken)
    {
        var message = RelayMessage.Parse(body);
        // Checks swept from the schedule table together: sessions side by side, a session's checks one after the other
        // (they would only contend for its row); all of them again if one fails (a check done twice finds nothing to do).
        return message.Kind == RelayMessageKind.Checks
            ? Task.WhenAll(message.Checks!.GroupBy(check => (check.PortalId, check.SessionId)).Select(session => HandleInTurnAsync(session, cancellationToken)))
            : HandleAsync(message, cancellationToken);
    }

    private async Task HandleInTurnAsync(IEnumerable<RelayMessage> checks, CancellationToken cancellationToken)
    {
        foreach (var check in checks)
            await HandleAsync(check, cancellationToken);
    }

    private async Task HandleAsync(RelayMessage message, CancellationToken cancellationToken)
    {
        // This handling's name on a delivery lease it takes.
        var worker = Guid.NewGuid().ToString("N");
        var claimed = message.Kind switch
        {
            RelayMessageKind.Beacons => await MergeAsync(message, worker, cancellationToken),
            RelayMessageKind.CloseCheck => await CloseCheckAsync(message, worker, cancellationToken),
            _ => await ClaimDeliveryAsync(message, worker, cancellationToken),
        };
        if (claimed is not null)
            await DeliverOutboxAsync(claimed, worker, message.Attempt, cancellationToken);
    }

    /// <summary>
    /// Merges a session's beacons, closes it if its end has settled, and decides the events now due. Returns the session,
    /// as saved, when this worker took the delivery lease.
    /// </summary>
    private async Task<StoredSession?> MergeAsync(RelayMessage message, string worker, CancellationToken cancellationToken)
    {
        var beacons = message.Beacons ?? [];
        var claimed = false;
        var counts = new Dictionary<MergeOutcome, int>();
        var changes = new SessionChanges();
        // A player's summary alone (its beacons came in an earlier request) makes no session of its own.
        var stored = await sessions.UpdateAsync(message.PortalId, message.SessionId, createIfMissing: beacons.Count > 0, async (session, isNew) =>
        {
            var now = Now;
            counts.Clear();
            changes = new SessionChanges { Opened = isNew };
            // Who brought the session: the client address of its first request (keyed hash), or a trusted backend.
            session.Source ??= message.Source;
            if (isNew)
            {
                // Scheduled before the session is first saved, so that no saved session is ever left without a close check.
                session.CloseCheckAt = now + (long)Options.IdleTimeout.TotalMilliseconds;
                await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.CloseCheck, session.PortalId, session.SessionId), session.CloseCheckAt, cancellationToken);
            }

            // A session near an entity's 1 MiB takes no more beacons but its end: what its decisions add must still fit.
            var full = session.StoredBytes > SessionRepository.TakesNoBeaconsFromBytes;
            foreach (var beacon in beacons)
            {
                var outcome = session.Merge(beacon, now, full && beacon.Event != BeaconEvent.End ? 0 : Options.MaxLogEntries);
                counts[outcome] = counts.GetValueOrDefault(outcome) + 1;
            }

            var waitChanged = EventPlanner.SettleGaps(session, now, Options);
            var closed = EventPlanner.CloseIfDue(session, now, Options);
            changes.Closed = closed ? session.CloseReason : null;
            // The events are due since their beacons reached the relay, which was before the queue handed them over.
            changes.Decided = Decide(session, message.ReceivedAt is > 0 and var received && received < now ? received : now);
            var decidedAny = changes.Decided.Count > 0;
            await ScheduleEarlierCheckAsync(session, now, cancellationToken);
            claimed = await TryClaimDeliveryAsync(session, worker, now, cancellationToken);
            var checkScheduled = !claimed && await EnsureDeliverCheckAsync(session, message.Attempt, cancellationToken);
            return isNew || counts.ContainsKey(MergeOutcome.Added) || waitChanged || closed || decidedAny || claimed || checkScheduled;
        }, cancellationToken);

        if (stored is null)
        {
            logger.LogInformation("Session {PortalId}/{SessionId}: a player summary of a session the relay has no beacons of", message.PortalId, message.SessionId);
            return null;
        }

        Count(stored.Session, changes);
        if (message.Reported is { } reported)
            CrossCheck(stored.Session, reported);
        var dropped = counts.GetValueOrDefault(MergeOutcome.SessionClosed) + counts.GetValueOrDefault(MergeOutcome.LogFull);
        RelayLog.BeaconsMerged(
            logger,
            dropped > 0 ? LogLevel.Warning : LogLevel.Information,
            message.PortalId,
            message.SessionId,
            counts.GetValueOrDefault(MergeOutcome.Added),
            counts.GetValueOrDefault(MergeOutcome.Duplicate),
            counts.GetValueOrDefault(MergeOutcome.SessionClosed),
            counts.GetValueOrDefault(MergeOutcome.LogFull));
        return AfterChange(stored, claimed);
    }

    /// <summary>
    /// Logs what the player's SDK says the session played beside what the relay's log of it shows: a warning where they
    /// differ by more than 10 % (and 2 s), which points at lost beacons or a player reporting its playhead oddly.
    /// </summary>
    private void CrossCheck(ViewingSession session, PlaybackSummary reported)
    {
        var intervals = Playback.Intervals(session.LogEntries);
        var computed = Playback.Passes(intervals).Sum(pass => pass.Length);
        var differs = Math.Abs(computed - reported.ContentSecondsPlayed) > Math.Max(2, 0.1 * reported.ContentSecondsPlayed);
        logger.Log(
            differs ? LogLevel.Warning : LogLevel.Information,
            "Session {PortalId}/{SessionId}: the player reports {ReportedSeconds:F1} s of content played (complete: {Complete}); the relay's log of it shows {ComputedSeconds:F1} s",
            session.PortalId,
            session.SessionId,
            reported.ContentSecondsPlayed,
            reported.Complete?.ToString() ?? "not said",
            computed);
    }

    private async Task<StoredSession?> CloseCheckAsync(RelayMessage message, string worker, CancellationToken cancellationToken)
    {
        var claimed = false;
        var changes = new SessionChanges();
        var stored = await sessions.UpdateAsync(message.PortalId, message.SessionId, createIfMissing: false, async (session, _) =>
        {
            var now = Now;
            claimed = false;
            changes = new SessionChanges();
            if (session.IsClosed || message.DueAt != session.CloseCheckAt)
                return false;
            EventPlanner.SettleGaps(session, now, Options);

            // Closing for lack of beacons (or of the ones missing before an end) is only right if none are still waiting
            // in the queue: under a backlog, look again once the processor has caught up with it.
            var due = EventPlanner.CloseDue(session, now, Options);
            if (due is not null && !session.EndBeacon().Settled
                && await queue.BacklogAsync(cancellationToken) is var backlog && backlog > BacklogTolerance)
            {
                logger.LogWarning(
                    "Session {PortalId}/{SessionId} is due to close, but beacons have waited {Backlog} in the queue; checking again after that",
                    session.PortalId,
                    session.SessionId,
                    backlog);
                session.CloseCheckAt = now + (long)backlog.TotalMilliseconds;
                await queue.ScheduleAsync(message with { DueAt = session.CloseCheckAt }, session.CloseCheckAt, cancellationToken);
                return true;
            }

            if (due is { } reason)
            {
                session.Close(reason, now);
                changes.Closed = reason;
                changes.Decided = Decide(session, now);
                claimed = await TryClaimDeliveryAsync(session, worker, now, cancellationToken);
                if (!claimed)
                    await EnsureDeliverCheckAsync(session, message.Attempt, cancellationToken);
                return true;
            }

            // Not closing: a wait for a missing seq number may have ended, and live events with it.
            changes.Decided = Decide(session, now);
            claimed = await TryClaimDeliveryAsync(session, worker, now, cancellationToken);
            if (!claimed)
                await EnsureDeliverCheckAsync(session, message.Attempt, cancellationToken);
            session.CloseCheckAt = EventPlanner.NextCloseCheckAt(session, Options);
            await queue.ScheduleAsync(message, session.CloseCheckAt, cancellationToken);
            return true;
        }, cancellationToken);

        if (stored is null)
            return null;
        Count(stored.Session, changes);
        return AfterChange(stored, claimed);
    }

    private async Task<StoredSession?> ClaimDeliveryAsync(RelayMessage message, string worker, CancellationToken cancellationToken)
    {
        var claimed = false;
        var stored = await sessions.UpdateAsync(message.PortalId, message.SessionId, createIfMissing: false, async (session, _) =>
        {
            // A lease held until this message's due time is the wait this very message ends (a visible message may run a little early).
            claimed = await TryClaimDeliveryAsync(session, worker, Math.Max(Now, message.DueAt), cancellationToken);
            // Someone else is delivering right now: look again when their lease runs out, so that nothing is left behind.
            return claimed || await EnsureDeliverCheckAsync(session, message.Attempt + 1, cancellationToken);
        }, cancellationToken);

        return stored is null ? null : AfterChange(stored, claimed);
    }

    /// <summary>Decides the events now due, noting since when they are due.</summary>
    private IReadOnlyList<PendingEvent> Decide(ViewingSession session, long dueSince)
    {
        var decided = EventPlanner.Decide(session, Options);
        session.MarkDue(decided, dueSince);
        return decided;
    }

    /// <summary>Counts what a saved change did: counted once it is saved, as a change redone after a conflict would count twice.</summary>
    private void Count(ViewingSession session, SessionChanges changes)
    {
        if (changes.Opened)
            metrics.SessionOpened(session.PortalId);
        if (changes.Closed is { } reason)
            metrics.SessionClosed(session.PortalId, reason.ToString().ToLowerInvariant());
        foreach (var pending in changes.Decided)
            metrics.EventDecided(session.PortalId, pending.Key);
    }

    /// <summary>What one change of a session did, for the counters.</summary>
    private sealed class SessionChanges
    {
        public bool Opened { get; init; }

        public CloseReason? Closed { get; set; }

        public IReadOnlyList<PendingEvent> Decided { get; set; } = [];
    }

    /// <summary>The session to deliver from when this worker holds the lease; null otherwise.</summary>
    private StoredSession? AfterChange(StoredSession stored, bool claimed)
    {
        var session = stored.Session;
        if (session.IsClosed && session.SkipReason is { } reason && session.Outbox.Count == 0)
        {
            logger.LogInformation(
                "Session {PortalId}/{SessionId} closed ({CloseReason}) without HubSpot events: {SkipReason}",
                session.PortalId,
                session.SessionId,
                session.CloseReason,
                reason);
        }

        return claimed ? stored : null;
    }

    /// <summary>
    /// Events wait and another worker holds the lease (delivering, waiting out a 429 or a missing token, or crashed): make
    /// sure a delivery check comes when the lease runs out. One per lease is enough, so the session remembers it; the check
    /// is queued before the session that records it is saved, so a saved promise is always kept. True if it changed the session.
    /// </summary>
    private async Task<bool> EnsureDeliverCheckAsync(ViewingSession session, int attempt, CancellationToken cancellationToken)
    {
        if (session.Outbox.Count == 0 || session.DeliverCheckAt >= session.DeliveryLeaseUntil)
            return false;
        session.DeliverCheckAt = session.DeliveryLeaseUntil;
        await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.Deliver, session.PortalId, session.SessionId, Attempt: attempt), session.DeliveryLeaseUntil, cancellationToken);
        return true;
    }

    /// <summary>
    /// Takes the delivery lease when events wait and nobody holds it. The worker holding a lease can stop at any moment
    /// (killed, scaled in, its token cancelled), so every saved lease has a delivery check pending for when it runs out,
    /// queued before the save: whoever handles that check delivers what is left. One pending check is enough, as a check
    /// that comes while a lease is held schedules the next for that lease's end.
    /// </summary>
    private async Task<bool> TryClaimDeliveryAsync(ViewingSession session, string worker, long now, CancellationToken cancellationToken)
    {
        if (session.Outbox.Count == 0 || session.DeliveryLeaseUntil > now)
            return false;
        session.DeliveryLeaseUntil = now + LeaseMilliseconds;
        session.DeliveryLeaseOwner = worker;
        if (session.DeliverCheckAt <= now)
        {
            session.DeliverCheckAt = session.DeliveryLeaseUntil;
            await queue.ScheduleAsync(
                new RelayMessage(RelayMessageKind.Deliver, session.PortalId, session.SessionId), session.DeliveryLeaseUntil, cancellationToken);
        }

        return true;
    }

    /// <summary>
    /// A check sooner than the one queued, when one is due sooner: an <c>end</c> with beacons still missing before it closes
    /// after a short grace, not after the idle timeout, and a wait for a missing seq number ends after the reorder window.
    /// </summary>
    private async Task ScheduleEarlierCheckAsync(ViewingSession session, long now, CancellationToken cancellationToken)
    {
        if (session.IsClosed)
            return;
        var due = EventPlanner.NextCloseCheckAt(session, Options);
        if (due >= session.CloseCheckAt && session.CloseCheckAt > now)
            return;
        session.CloseCheckAt = due;
        await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.CloseCheck, session.PortalId, session.SessionId), due, cancellationToken);
    }

    /// <summary>
    /// Sends the outbox one event at a time while this worker holds the lease, from the session it already has in hand.
    /// Before each send it makes sure the lease is still its own for at least half a lease (longer than one send takes,
    /// retries and a short 429 wait included), extending it with a save if need be; each delivered event leaves the outbox
    /// in one save, which extends the lease again, or releases it once the outbox is empty. A save that finds the session
    /// changed (new beacons, new events, or another worker's lease) reads it again: the loop goes on only while the lease
    /// is still this worker's, so no two workers ever send the same event because one outlasted its lease.
    /// </summary>
    private async Task DeliverOutboxAsync(StoredSession held, string worker, int attempt, CancellationToken cancellationToken)
    {
        var (session, etag) = held;
        var (portalId, sessionId) = (session.PortalId, session.SessionId);
        while (true)
        {
            if (session.DeliveryLeaseOwner != worker)
            {
                if (session.Outbox.Count > 0)
                    RelayLog.DeliveryLeaseLost(logger, portalId, sessionId);
                return;
            }

            // Done (the lease is released), or the lease has less than half its time left (it is extended): saved first.
            var done = session.Outbox.Count == 0;
            if (done || session.DeliveryLeaseUntil - Now < LeaseMilliseconds / 2)
            {
                ExtendOrRelease(session, worker);
                if (await TrySaveAsync(session, etag, cancellationToken) is { } renewed)
                {
                    if (done)
                        return;
                    etag = renewed;
                }
                else if (await sessions.GetAsync(portalId, sessionId, cancellationToken) is { } reloaded)
                {
                    (session, etag) = reloaded;
                }
                else
                {
                    return;
                }

                continue;
            }

            if (relayOptions.Value.CoalesceQuartilesAfter is var coalesceAfter && coalesceAfter > TimeSpan.Zero)
            {
                foreach (var coalesced in session.CoalesceQuartiles(Now - (long)coalesceAfter.TotalMilliseconds))
                {
                    RelayLog.QuartileCoalesced(logger, coalesced.Key, portalId, sessionId);
                    metrics.EventDropped(portalId, coalesced.Key, "coalesced");
                }
            }

            var pending = session.Outbox[0];
            // Every call of this send ends a tenth of a lease before the lease does: the next worker starts only after.
            var answerBy = DateTimeOffset.FromUnixTimeMilliseconds(session.DeliveryLeaseUntil - LeaseMilliseconds / 10);
            var gate = await viewers.CheckAsync(session, pending, answerBy, cancellationToken);
            session.ViewerCounted |= gate.ViewerCounted;
            var toSend = gate.ContactId is { } id ? pending with { Payload = MediaEventPayload.WithContactId(pending.Payload, id) } : pending;
            var result = gate.Instead
                ?? await sender.SendAsync(portalId, sessionId, toSend, MediaObjectSpec.For(session, Options, oembed.FallbackFor), cancellationToken, answerBy);
            var refusal = gate.Refusal;
            if (result.Outcome == DeliveryOutcome.AwaitingMedia && Now - (session.MediaAwaitedSince > 0 ? session.MediaAwaitedSince : Now) >= (long)relayOptions.Value.MediaObjectWaitLimit.TotalMilliseconds)
                (result, refusal) = (DeliveryResult.Dropped, SessionRefusal.MediaBound);
            switch (result.Outcome)
            {
                case DeliveryOutcome.Delivered:
                    RelayLog.EventDelivered(logger, pending.Key, portalId, sessionId);
                    metrics.EventDelivered(portalId, pending.Key);
                    session.MediaAwaitedSince = 0;
                    // Held events waited for their viewer, not for delivery: they would make the latency a viewer's conversion time.
                    if (pending.DueSince > 0 && session.AnonymousHeldSince == 0)
                    {
                        var waitedFor = TimeSpan.FromMilliseconds(Now - pending.DueSince);
                        metrics.DeliveryLatency(portalId, pending.Key, waitedFor);
                        WarnIfBehind(portalId, waitedFor);
                    }

                    foreach (var observer in observers)
                        observer.Delivered(portalId, sessionId, pending);
                    break;
                case DeliveryOutcome.Rejected:
                    logger.LogWarning(
                        "HubSpot rejected {EventKey} of session {PortalId}/{SessionId} with {Status}; it is dead-lettered",
                        pending.Key,
                        portalId,
                        sessionId,
                        result.Status);
                    await deadLetters.AddAsync(portalId, sessionId, pending, result.Status, result.Answer, cancellationToken);
                    metrics.EventDeadLettered(portalId, pending.Key);
                    break;
                case DeliveryOutcome.NoToken when WaitedLongEnoughForToken(attempt):
                    var waited = hubSpotOptions.Value.GiveUpWithoutTokenAfter;
                    logger.LogWarning(
                        "Portal {PortalId} has had no usable token for about {Waited}: {EventKey} of session {SessionId} is given up and dead-lettered",
                        portalId,
                        waited,
                        pending.Key,
                        sessionId);
                    await deadLetters.AddAsync(portalId, sessionId, pending, 0, $"{result.Answer} for about {waited}; not sent", cancellationToken);
                    metrics.EventDeadLettered(portalId, pending.Key);
                    break;
                case DeliveryOutcome.Dropped when refusal != SessionRefusal.None:
                    if (session.Refused == SessionRefusal.None)
                        LogRefusal(session, refusal);
                    metrics.EventDropped(portalId, pending.Key, DropReasonOf(refusal));
                    session.Refused = refusal;
                    break;
                case DeliveryOutcome.Dropped:
                    logger.LogWarning(
                        "Session {PortalId}/{SessionId}: its viewer's {Viewer} has not become a HubSpot contact in {HoldAnonymousFor}: {EventKey} is dropped, not sent",
                        portalId,
                        sessionId,
                        session.Email is null ? "utk" : "email",
                        relayOptions.Value.HoldAnonymousFor,
                        pending.Key);
                    metrics.EventDropped(portalId, pending.Key, "anonymous");
                    break;
                case DeliveryOutcome.RetryLater when pending.Kind == MediaEventKind.PlayedPercent && session.PutAttentionSpanFirst():
                    // A quartile waiting for the budget: the session's attention span is worth more and goes first.
                    continue;
                default:
                    var holding = result.Outcome == DeliveryOutcome.Held;
                    var delay = TimeSpan.FromTicks(Math.Clamp(result.RetryAfter.Ticks, MinRetryDelay.Ticks, (holding ? MaxHeldCheckDelay : MaxRetryDelay).Ticks));
                    // A wait for a media object ends at its limit at the latest: the next look then drops the events.
                    if (result.Outcome == DeliveryOutcome.AwaitingMedia
                        && TimeSpan.FromMilliseconds((session.MediaAwaitedSince > 0 ? session.MediaAwaitedSince : Now) + (long)relayOptions.Value.MediaObjectWaitLimit.TotalMilliseconds - Now) is var untilLimit
                        && untilLimit < delay)
                        delay = untilLimit < MinRetryDelay ? MinRetryDelay : untilLimit;
                    // A held session asks again every hour for up to a month: its first hold is logged below, the rest only at Debug.
                    logger.Log(
                        holding ? LogLevel.Debug : LogLevel.Information,
                        "Delivery of session {PortalId}/{SessionId} paused for {Delay} (attempt {Attempt}): {Reason}",
                        portalId,
                        sessionId,
                        delay,
                        attempt + 1,
                        result.Answer);
                    // The lease is held until the retry, so that other messages of the session do not try meanwhile.
                    var dueAt = Now + (long)delay.TotalMilliseconds;
                    // A hold is no failed attempt: the attempts count the waits for a token, which give up after a week.
                    await queue.ScheduleRetryAsync(new RelayMessage(RelayMessageKind.Deliver, portalId, sessionId, Attempt: holding ? attempt : attempt + 1), dueAt, cancellationToken);
                    var heldNow = false;
                    var (counted, awaitingMedia) = (session.ViewerCounted, result.Outcome == DeliveryOutcome.AwaitingMedia);
                    await sessions.UpdateAsync(portalId, sessionId, createIfMissing: false, (session, _) =>
                    {
                        if (session.DeliveryLeaseOwner != worker)
                            return Task.FromResult(false);
                        session.ViewerCounted |= counted;
                        if (awaitingMedia && session.MediaAwaitedSince == 0)
                            session.MediaAwaitedSince = Now;
                        session.DeliveryLeaseUntil = dueAt;
                        session.DeliverCheckAt = Math.Max(session.DeliverCheckAt, dueAt);
                        heldNow = holding && session.AnonymousHeldSince == 0;
                        if (heldNow)
                            session.AnonymousHeldSince = Now;
                        return Task.FromResult(true);
                    }, cancellationToken);
                    if (heldNow)
                    {
                        metrics.SessionHeld(portalId);
                        logger.LogInformation(
                            "Session {PortalId}/{SessionId} is held: {Reason}; asked again after {CheckInterval}, then after as long as it has been held (up to a day), dropped after {HoldAnonymousFor}",
                            portalId,
                            sessionId,
                            result.Answer,
                            relayOptions.Value.AnonymousCheckInterval,
                            relayOptions.Value.HoldAnonymousFor);
                    }

                    return;
            }

            session.MarkDelivered(pending.Key);
            ExtendOrRelease(session, worker);
            // HubSpot has the event now: a failed save would send it again, so storage trouble is waited out (StorageClients).
            if (await TrySaveAsync(session, etag, cancellationToken) is { } saved)
            {
                if (session.Outbox.Count == 0)
                    return;
                etag = saved;
                continue;
            }

            // Someone saved the session since: take that out of the fresh copy, with what this send learnt of the session,
            // and go on with whatever it holds.
            var (refused, viewerCounted) = (session.Refused, session.ViewerCounted);
            var updated = await sessions.UpdateAsync(portalId, sessionId, createIfMissing: false, (fresh, _) =>
            {
                var changed = fresh.MarkDelivered(pending.Key)
                    | (refused != SessionRefusal.None && fresh.Refused == SessionRefusal.None)
                    | (viewerCounted && !fresh.ViewerCounted);
                if (fresh.Refused == SessionRefusal.None)
                    fresh.Refused = refused;
                fresh.ViewerCounted |= viewerCounted;
                return Task.FromResult(ExtendOrRelease(fresh, worker) || changed);
            }, cancellationToken);
            if (updated is null)
                return;
            (session, etag) = updated;
        }
    }

    /// <summary>What the counters call a refusal: <c>relay.events.dropped</c>'s <c>reason</c>.</summary>
    private static string DropReasonOf(SessionRefusal refusal) => refusal switch
    {
        SessionRefusal.HoldBound => "anonymous_bound",
        SessionRefusal.ViewerBound => "viewer_bound",
        SessionRefusal.SourceBound => "source_bound",
        SessionRefusal.MediaBound => "media_bound",
        _ => "refused",
    };

    /// <summary>
    /// Says once per session why its events are dropped (the viewer's bound says so itself, once an hour per viewer; a
    /// client address's, once an hour per address): a stranger's made-up sessions must not make a log line each.
    /// </summary>
    private void LogRefusal(ViewingSession session, SessionRefusal refusal)
    {
        var settings = relayOptions.Value;
        switch (refusal)
        {
            case SessionRefusal.HoldBound:
                logger.LogWarning(
                    "Session {PortalId}/{SessionId}: its viewer is no HubSpot contact and its portal has begun {Limit} such holds this hour (Relay__MaxNewHeldSessionsPerPortalPerHour): its events are dropped, not held",
                    session.PortalId,
                    session.SessionId,
                    settings.MaxNewHeldSessionsPerPortalPerHour);
                break;
            case SessionRefusal.MediaBound:
                logger.LogWarning(
                    "Session {PortalId}/{SessionId}: its media object could not be made within {WaitLimit} (the portal's bounds of new media, or its catalog alone makes them): its events are dropped",
                    session.PortalId,
                    session.SessionId,
                    settings.MediaObjectWaitLimit);
                break;
            default:
                logger.LogDebug("Session {PortalId}/{SessionId}: its events are dropped ({Refusal})", session.PortalId, session.SessionId, refusal);
                break;
        }
    }

    /// <summary>Portals warned about being behind in the last minute, so that a backlog makes one line a minute, not one per event.</summary>
    private readonly ExpiringCache<long, bool> _warnedBehind = new(10_000, time);

    private void WarnIfBehind(long portalId, TimeSpan waitedFor)
    {
        var after = relayOptions.Value.BacklogWarningAfter;
        if (after == TimeSpan.Zero || waitedFor < after || _warnedBehind.TryGet(portalId, out _))
            return;
        _warnedBehind.Set(portalId, true, TimeSpan.FromMinutes(1));
        logger.LogWarning(
            "Portal {PortalId} is behind: an event reached HubSpot {Behind} after it was due (Relay__BacklogWarningAfter {After}); relay status shows its backlog in minutes at its pace",
            portalId,
            waitedFor,
            after);
    }

    /// <summary>After a delivery, this worker's lease runs a full lease from now, or ends if the outbox is empty. True if it changed.</summary>
    private bool ExtendOrRelease(ViewingSession session, string worker)
    {
        if (session.DeliveryLeaseOwner != worker)
            return false;
        (session.DeliveryLeaseUntil, session.DeliveryLeaseOwner) = session.Outbox.Count == 0 ? (0, null) : (Now + LeaseMilliseconds, worker);
        return true;
    }

    /// <summary>Retries without a token come every <c>NoTokenRetryDelay</c>: so many of them make the give-up time.</summary>
    private bool WaitedLongEnoughForToken(int attempt)
    {
        var settings = hubSpotOptions.Value;
        return attempt * settings.NoTokenRetryDelay.Ticks >= settings.GiveUpWithoutTokenAfter.Ticks;
    }

    /// <summary>Saves if nobody else did since <paramref name="etag"/>; the new ETag, or null on a conflict.</summary>
    private async Task<ETag?> TrySaveAsync(ViewingSession session, ETag? etag, CancellationToken cancellationToken)
    {
        try
        {
            return await sessions.SaveAsync(session, etag, cancellationToken);
        }
        catch (SessionConflictException)
        {
            return null;
        }
    }
}
