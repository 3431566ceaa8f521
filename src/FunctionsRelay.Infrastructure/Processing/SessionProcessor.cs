using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Delivery;
using FunctionsRelay.Infrastructure.Privacy;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Processing;

/// <summary>
/// Handles the messages of the beacon queue: merges a session's beacons, closes it when its end has settled (close
/// checks), decides the events now due, and hands its outbox to <see cref="OutboxDeliverer"/> when this worker took the
/// delivery lease. Every change to a session is load, change, save-if-unchanged (ETag), redone on conflict, so parallel
/// messages of one session never lose a beacon. Events are decided exactly once (the decision is saved with the session,
/// in its outbox) and delivered at least once: only a crash, or storage unavailable for longer than its retries wait
/// (about half a minute), between HubSpot's answer and the event's removal from the outbox can send it twice.
/// </summary>
public sealed class SessionProcessor(
    SessionRepository sessions,
    BeaconQueue queue,
    OutboxDeliverer delivery,
    ViewerPrivacy privacy,
    RelayMetrics metrics,
    IOptions<SessionOptions> sessionOptions,
    TimeProvider time,
    ILogger<SessionProcessor> logger)
{
    /// <summary>Beacons that have waited this long in the queue mean a backlog, which idle sessions must not close ahead of.</summary>
    private static readonly TimeSpan BacklogTolerance = TimeSpan.FromSeconds(5);

    private SessionOptions Options => sessionOptions.Value;

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
        if (message.Kind == RelayMessageKind.Forget)
        {
            await privacy.ForgetAsync(message, cancellationToken);
            return;
        }

        // This handling's name on a delivery lease it takes.
        var worker = Guid.NewGuid().ToString("N");
        var claimed = message.Kind switch
        {
            RelayMessageKind.Beacons => await MergeAsync(message, worker, cancellationToken),
            RelayMessageKind.CloseCheck => await CloseCheckAsync(message, worker, cancellationToken),
            _ => await ClaimDeliveryAsync(message, worker, cancellationToken),
        };
        if (claimed is not null)
            await delivery.DeliverAsync(claimed, worker, message.Attempt, cancellationToken);
    }

    /// <summary>
    /// Merges a session's beacons, closes it if its end has settled, and decides the events now due. Returns the session,
    /// as saved, when this worker took the delivery lease.
    /// </summary>
    private async Task<StoredSession?> MergeAsync(RelayMessage message, string worker, CancellationToken cancellationToken)
    {
        var beacons = message.Beacons ?? [];
        if (await privacy.IsOfForgottenViewerAsync(message, cancellationToken))
        {
            // On its way when HubSpot asked the relay to forget its viewer: dropped, and no session made or kept of it.
            await sessions.DeleteAsync(message.PortalId, message.SessionId, cancellationToken);
            logger.LogInformation(
                "Session {PortalId}/{SessionId}: {Beacons} beacons of a viewer a privacy deletion erased are dropped",
                message.PortalId,
                message.SessionId,
                beacons.Count);
            return null;
        }

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

            var noted = await privacy.NoteAsync(session, cancellationToken);
            var waitChanged = EventPlanner.SettleGaps(session, now, Options);
            var closed = EventPlanner.CloseIfDue(session, now, Options);
            changes.Closed = closed ? session.CloseReason : null;
            // The events are due since their beacons reached the relay, which was before the queue handed them over.
            changes.Decided = Decide(session, message.ReceivedAt is > 0 and var received && received < now ? received : now);
            var decidedAny = changes.Decided.Count > 0;
            await ScheduleEarlierCheckAsync(session, now, cancellationToken);
            claimed = await delivery.TryClaimAsync(session, worker, now, cancellationToken);
            var checkScheduled = !claimed && await delivery.EnsureCheckAsync(session, message.Attempt, cancellationToken);
            return isNew || counts.ContainsKey(MergeOutcome.Added) || noted || waitChanged || closed || decidedAny || claimed || checkScheduled;
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
                claimed = await delivery.TryClaimAsync(session, worker, now, cancellationToken);
                if (!claimed)
                    await delivery.EnsureCheckAsync(session, message.Attempt, cancellationToken);
                return true;
            }

            // Not closing: a wait for a missing seq number may have ended, and live events with it.
            changes.Decided = Decide(session, now);
            claimed = await delivery.TryClaimAsync(session, worker, now, cancellationToken);
            if (!claimed)
                await delivery.EnsureCheckAsync(session, message.Attempt, cancellationToken);
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
            claimed = await delivery.TryClaimAsync(session, worker, Math.Max(Now, message.DueAt), cancellationToken);
            // Someone else is delivering right now: look again when their lease runs out, so that nothing is left behind.
            return claimed || await delivery.EnsureCheckAsync(session, message.Attempt + 1, cancellationToken);
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
}
