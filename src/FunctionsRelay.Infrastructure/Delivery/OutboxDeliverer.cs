using Azure;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Delivery;

/// <summary>
/// Delivers a session's outbox under its delivery lease. A worker takes the lease when events wait and nobody holds it,
/// sends each pending event (<see cref="EventSendChain"/>) and removes it from the outbox in one save, which extends the
/// lease again, or releases it once the outbox is empty. Every saved lease has a delivery check pending for when it
/// runs out, queued before the save, so that whoever handles that check delivers what is left if the worker stops.
/// </summary>
public sealed class OutboxDeliverer(
    SessionRepository sessions,
    BeaconQueue queue,
    EventSendChain chain,
    DeliveryOutcomes outcomes,
    IOptions<RelayOptions> relayOptions,
    TimeProvider time,
    ILogger<OutboxDeliverer> logger)
{
    private static readonly TimeSpan MinRetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromHours(1);
    private static readonly TimeSpan MaxHeldCheckDelay = TimeSpan.FromDays(1);

    private long LeaseMilliseconds => (long)relayOptions.Value.DeliveryLease.TotalMilliseconds;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Takes the delivery lease when events wait and nobody holds it. The worker holding a lease can stop at any moment
    /// (killed, scaled in, its token cancelled), so every saved lease has a delivery check pending for when it runs out,
    /// queued before the save: whoever handles that check delivers what is left. One pending check is enough, as a check
    /// that comes while a lease is held schedules the next for that lease's end.
    /// </summary>
    public async Task<bool> TryClaimAsync(ViewingSession session, string worker, long now, CancellationToken cancellationToken)
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
    /// Events wait and another worker holds the lease (delivering, waiting out a 429 or a missing token, or crashed): make
    /// sure a delivery check comes when the lease runs out. One per lease is enough, so the session remembers it; the check
    /// is queued before the session that records it is saved, so a saved promise is always kept. True if it changed the session.
    /// </summary>
    public async Task<bool> EnsureCheckAsync(ViewingSession session, int attempt, CancellationToken cancellationToken)
    {
        if (session.Outbox.Count == 0 || session.DeliverCheckAt >= session.DeliveryLeaseUntil)
            return false;
        session.DeliverCheckAt = session.DeliveryLeaseUntil;
        await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.Deliver, session.PortalId, session.SessionId, Attempt: attempt), session.DeliveryLeaseUntil, cancellationToken);
        return true;
    }

    /// <summary>
    /// Puts events into a session's outbox from outside its own decisions (a dead letter replayed, an event re-derived),
    /// each once, and queues a delivery check for now before the session is saved: no saved event waits without one.
    /// </summary>
    public async Task PutBackAsync(ViewingSession session, IEnumerable<PendingEvent> events, CancellationToken cancellationToken)
    {
        foreach (var pending in events)
        {
            if (session.Outbox.All(e => e.Key != pending.Key))
                session.Enqueue(pending);
        }

        await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.Deliver, session.PortalId, session.SessionId), Now, cancellationToken);
    }

    /// <summary>
    /// Sends the outbox one event at a time while this worker holds the lease, from the session it already has in hand.
    /// Before each send it makes sure the lease is still its own for at least half a lease (longer than one send takes,
    /// retries and a short 429 wait included), extending it with a save if need be; each delivered event leaves the outbox
    /// in one save, which extends the lease again, or releases it once the outbox is empty. A save that finds the session
    /// changed (new beacons, new events, or another worker's lease) reads it again: the loop goes on only while the lease
    /// is still this worker's, so no two workers ever send the same event because one outlasted its lease.
    /// </summary>
    public async Task DeliverAsync(StoredSession held, string worker, int attempt, CancellationToken cancellationToken)
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
                    outcomes.Coalesced(session, coalesced);
            }

            var pending = session.Outbox[0];
            // Every call of this send ends a tenth of a lease before the lease does: the next worker starts only after.
            var answerBy = DateTimeOffset.FromUnixTimeMilliseconds(session.DeliveryLeaseUntil - LeaseMilliseconds / 10);
            var (result, refusal) = await chain.SendAsync(session, pending, answerBy, cancellationToken);
            switch (result.Outcome)
            {
                case DeliveryOutcome.Delivered:
                    session.MediaAwaitedSince = 0;
                    outcomes.Delivered(session, pending);
                    break;
                case DeliveryOutcome.Rejected:
                    await outcomes.RejectedAsync(session, pending, result, cancellationToken);
                    break;
                case DeliveryOutcome.NoToken when outcomes.WaitedLongEnoughForToken(attempt):
                    await outcomes.GivenUpWithoutTokenAsync(session, pending, result, cancellationToken);
                    break;
                case DeliveryOutcome.Dropped when refusal != SessionRefusal.None:
                    outcomes.Refused(session, pending, refusal);
                    break;
                case DeliveryOutcome.Dropped:
                    outcomes.DroppedAfterHold(session, pending);
                    break;
                case DeliveryOutcome.RetryLater when pending.Kind == MediaEventKind.PlayedPercent && session.PutAttentionSpanFirst():
                    // A quartile waiting for the budget: the session's attention span is worth more and goes first.
                    continue;
                default:
                    await PauseAsync(session, worker, attempt, result, cancellationToken);
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
            var (refused, viewerCounted, learntOfViewer) = (session.Refused, session.ViewerCounted, session);
            var updated = await sessions.UpdateAsync(portalId, sessionId, createIfMissing: false, (fresh, _) =>
            {
                var changed = fresh.MarkDelivered(pending.Key)
                    | (refused != SessionRefusal.None && fresh.Refused == SessionRefusal.None)
                    | (viewerCounted && !fresh.ViewerCounted)
                    | fresh.TakeViewerFrom(learntOfViewer);
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

    /// <summary>
    /// The event waits (HubSpot's budget, a 429, an outage, a viewer held, a media object not made yet): a delivery check
    /// is queued for when it may go, and the lease is held until then, so that other messages of the session do not try
    /// meanwhile.
    /// </summary>
    private async Task PauseAsync(ViewingSession session, string worker, int attempt, DeliveryResult result, CancellationToken cancellationToken)
    {
        var (portalId, sessionId) = (session.PortalId, session.SessionId);
        var holding = result.Outcome == DeliveryOutcome.Held;
        var delay = TimeSpan.FromTicks(Math.Clamp(result.RetryAfter.Ticks, MinRetryDelay.Ticks, (holding ? MaxHeldCheckDelay : MaxRetryDelay).Ticks));
        // A wait for a media object ends at its limit at the latest: the next look then drops the events.
        var now = Now;
        if (result.Outcome == DeliveryOutcome.AwaitingMedia
            && TimeSpan.FromMilliseconds(session.MediaWaitEndsAt(now, relayOptions.Value.MediaObjectWaitLimit) - now) is var untilLimit
            && untilLimit < delay)
            delay = untilLimit < MinRetryDelay ? MinRetryDelay : untilLimit;
        outcomes.Paused(session, delay, attempt + 1, result);
        var dueAt = Now + (long)delay.TotalMilliseconds;
        // A hold is no failed attempt: the attempts count the waits for a token, which give up after a week.
        await queue.ScheduleRetryAsync(new RelayMessage(RelayMessageKind.Deliver, portalId, sessionId, Attempt: holding ? attempt : attempt + 1), dueAt, cancellationToken);
        var heldNow = false;
        var (counted, awaitingMedia, learnt) = (session.ViewerCounted, result.Outcome == DeliveryOutcome.AwaitingMedia, session);
        await sessions.UpdateAsync(portalId, sessionId, createIfMissing: false, (fresh, _) =>
        {
            if (fresh.DeliveryLeaseOwner != worker)
                return Task.FromResult(false);
            fresh.ViewerCounted |= counted;
            fresh.TakeViewerFrom(learnt);
            if (awaitingMedia && fresh.MediaAwaitedSince == 0)
                fresh.MediaAwaitedSince = Now;
            fresh.DeliveryLeaseUntil = dueAt;
            fresh.DeliverCheckAt = Math.Max(fresh.DeliverCheckAt, dueAt);
            heldNow = holding && fresh.AnonymousHeldSince == 0;
            if (heldNow)
                fresh.AnonymousHeldSince = Now;
            return Task.FromResult(true);
        }, cancellationToken);
        if (heldNow)
            outcomes.Held(session, result);
    }

    /// <summary>After a delivery, this worker's lease runs a full lease from now, or ends if the outbox is empty. True if it changed.</summary>
    private bool ExtendOrRelease(ViewingSession session, string worker)
    {
        if (session.DeliveryLeaseOwner != worker)
            return false;
        (session.DeliveryLeaseUntil, session.DeliveryLeaseOwner) = session.Outbox.Count == 0 ? (0, null) : (Now + LeaseMilliseconds, worker);
        return true;
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
