using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Processing;

/// <summary>
/// Handles the messages of the beacon queue. Every change to a session is load, change, save-if-unchanged (ETag), redone
/// on conflict, so parallel messages of one session never lose a beacon. Events are decided exactly once (the decision is
/// saved with the session, in its outbox) and delivered at least once: a worker takes a delivery lease on the session,
/// sends each pending event and removes it from the outbox. Only a crash between HubSpot's answer and that removal can
/// send an event twice.
/// </summary>
public sealed class SessionProcessor(
    SessionRepository sessions,
    BeaconQueue queue,
    IMediaEventSender sender,
    DeadLetterStore deadLetters,
    IOptions<SessionOptions> sessionOptions,
    IOptions<RelayOptions> relayOptions,
    TimeProvider time,
    ILogger<SessionProcessor> logger)
{
    private const int MaxConflictRetries = 20;
    private static readonly TimeSpan MinRetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromHours(1);

    private SessionOptions Options => sessionOptions.Value;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Handles one queue message. Throws for a message it cannot read, so the queue retries it and then poisons it.</summary>
    public async Task HandleAsync(BinaryData body, CancellationToken cancellationToken)
    {
        var message = RelayMessage.Parse(body);
        var deliver = message.Kind switch
        {
            RelayMessageKind.Beacons => await MergeAsync(message, cancellationToken),
            RelayMessageKind.CloseCheck => await CloseCheckAsync(message, cancellationToken),
            _ => await ClaimDeliveryAsync(message, cancellationToken),
        };
        if (deliver)
            await DeliverOutboxAsync(message.PortalId, message.SessionId, message.Attempt, cancellationToken);
    }

    /// <summary>Merges a session's beacons, closes it if its end has settled, and decides the events now due.</summary>
    private async Task<bool> MergeAsync(RelayMessage message, CancellationToken cancellationToken)
    {
        var beacons = message.Beacons ?? [];
        var claimed = false;
        var decidedAny = false;
        var counts = new Dictionary<MergeOutcome, int>();
        var session = await UpdateAsync(message.PortalId, message.SessionId, createIfMissing: true, async (session, isNew) =>
        {
            var now = Now;
            counts.Clear();
            if (isNew)
            {
                // Scheduled before the session is first saved, so that no saved session is ever left without a close check.
                session.CloseCheckAt = now + (long)Options.IdleTimeout.TotalMilliseconds;
                await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.CloseCheck, session.PortalId, session.SessionId), session.CloseCheckAt, cancellationToken);
            }

            foreach (var beacon in beacons)
            {
                var outcome = session.Merge(beacon, now, Options.MaxLogEntries);
                counts[outcome] = counts.GetValueOrDefault(outcome) + 1;
            }

            var closed = EventPlanner.CloseIfDue(session, now, Options);
            decidedAny = EventPlanner.Decide(session, Options).Count > 0;
            await ScheduleEndGraceCheckAsync(session, now, cancellationToken);
            claimed = TryClaimDelivery(session, now);
            return isNew || counts.ContainsKey(MergeOutcome.Added) || closed || decidedAny || claimed;
        }, cancellationToken);

        logger.LogInformation(
            "Session {PortalId}/{SessionId}: {Added} beacons merged, {Duplicates} duplicates, {AfterClose} after close, {LogFull} over the log limit",
            message.PortalId,
            message.SessionId,
            counts.GetValueOrDefault(MergeOutcome.Added),
            counts.GetValueOrDefault(MergeOutcome.Duplicate),
            counts.GetValueOrDefault(MergeOutcome.SessionClosed),
            counts.GetValueOrDefault(MergeOutcome.LogFull));
        return await AfterChangeAsync(session!, claimed, decidedAny, cancellationToken);
    }

    private async Task<bool> CloseCheckAsync(RelayMessage message, CancellationToken cancellationToken)
    {
        var claimed = false;
        var decidedAny = false;
        var session = await UpdateAsync(message.PortalId, message.SessionId, createIfMissing: false, async (session, _) =>
        {
            var now = Now;
            claimed = false;
            if (session.IsClosed || message.DueAt != session.CloseCheckAt)
                return false;
            if (EventPlanner.CloseIfDue(session, now, Options))
            {
                decidedAny = EventPlanner.Decide(session, Options).Count > 0;
                claimed = TryClaimDelivery(session, now);
                return true;
            }

            session.CloseCheckAt = EventPlanner.NextCloseCheckAt(session, Options);
            await queue.ScheduleAsync(message, session.CloseCheckAt, cancellationToken);
            return true;
        }, cancellationToken);

        return session is not null && await AfterChangeAsync(session, claimed, decidedAny, cancellationToken);
    }

    private async Task<bool> ClaimDeliveryAsync(RelayMessage message, CancellationToken cancellationToken)
    {
        var claimed = false;
        var session = await UpdateAsync(message.PortalId, message.SessionId, createIfMissing: false, (session, _) =>
        {
            // A lease held until this message's due time is the wait this very message ends (a visible message may run a little early).
            claimed = TryClaimDelivery(session, Math.Max(Now, message.DueAt));
            return Task.FromResult(claimed);
        }, cancellationToken);

        if (session is { Outbox.Count: > 0 } && !claimed)
        {
            // Someone is delivering right now; look again when their lease runs out, so that nothing is left behind.
            await queue.ScheduleAsync(message with { Attempt = message.Attempt + 1 }, session.DeliveryLeaseUntil, cancellationToken);
        }

        return session is not null && await AfterChangeAsync(session, claimed, decidedAny: false, cancellationToken);
    }

    /// <summary>After a change: deliver if this worker holds the lease; if another holds it, make sure new events are looked at again.</summary>
    private async Task<bool> AfterChangeAsync(ViewingSession session, bool claimed, bool decidedAny, CancellationToken cancellationToken)
    {
        if (session.IsClosed && session.SkipReason is { } reason && session.Outbox.Count == 0)
        {
            logger.LogInformation(
                "Session {PortalId}/{SessionId} closed ({CloseReason}) without HubSpot events: {SkipReason}",
                session.PortalId,
                session.SessionId,
                session.CloseReason,
                reason);
        }

        if (!claimed && decidedAny)
        {
            // Another worker holds the lease (delivering, or waiting out a 429 or a missing token). Its own message covers
            // what it saw; this one makes sure the events just decided are looked at once the lease runs out.
            await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.Deliver, session.PortalId, session.SessionId), session.DeliveryLeaseUntil, cancellationToken);
        }

        return claimed;
    }

    private bool TryClaimDelivery(ViewingSession session, long now)
    {
        if (session.Outbox.Count == 0 || session.DeliveryLeaseUntil > now)
            return false;
        session.DeliveryLeaseUntil = now + (long)relayOptions.Value.DeliveryLease.TotalMilliseconds;
        return true;
    }

    /// <summary>An <c>end</c> with beacons still missing before it closes after a short grace, not after the idle timeout.</summary>
    private async Task ScheduleEndGraceCheckAsync(ViewingSession session, long now, CancellationToken cancellationToken)
    {
        if (session.IsClosed || !session.EndBeacon().Seen)
            return;
        var due = EventPlanner.NextCloseCheckAt(session, Options);
        if (due >= session.CloseCheckAt && session.CloseCheckAt > now)
            return;
        session.CloseCheckAt = due;
        await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.CloseCheck, session.PortalId, session.SessionId), due, cancellationToken);
    }

    /// <summary>Sends the outbox one event at a time while this worker holds the lease; releases the lease when it is empty.</summary>
    private async Task DeliverOutboxAsync(long portalId, string sessionId, int attempt, CancellationToken cancellationToken)
    {
        while (true)
        {
            var stored = await sessions.GetAsync(portalId, sessionId, cancellationToken);
            if (stored?.Session.Outbox is not [var pending, ..])
            {
                if (await TryReleaseLeaseAsync(portalId, sessionId, cancellationToken))
                    return;
                continue;
            }

            var result = await sender.SendAsync(portalId, sessionId, pending, cancellationToken);
            switch (result.Outcome)
            {
                case DeliveryOutcome.Delivered:
                    logger.LogInformation("Delivered {EventKey} of session {PortalId}/{SessionId}", pending.Key, portalId, sessionId);
                    break;
                case DeliveryOutcome.Rejected:
                    logger.LogWarning(
                        "HubSpot rejected {EventKey} of session {PortalId}/{SessionId} with {Status}; it is dead-lettered",
                        pending.Key,
                        portalId,
                        sessionId,
                        result.Status);
                    await deadLetters.AddAsync(portalId, sessionId, pending, result.Status, result.Answer, cancellationToken);
                    break;
                default:
                    var delay = TimeSpan.FromTicks(Math.Clamp(result.RetryAfter.Ticks, MinRetryDelay.Ticks, MaxRetryDelay.Ticks));
                    logger.LogInformation(
                        "Delivery of session {PortalId}/{SessionId} paused for {Delay} (attempt {Attempt}): {Reason}",
                        portalId,
                        sessionId,
                        delay,
                        attempt + 1,
                        result.Answer);
                    // The lease is held until the retry, so that other messages of the session do not try meanwhile.
                    var dueAt = Now + (long)delay.TotalMilliseconds;
                    await HoldLeaseAsync(portalId, sessionId, dueAt, cancellationToken);
                    await queue.ScheduleAsync(new RelayMessage(RelayMessageKind.Deliver, portalId, sessionId, Attempt: attempt + 1), dueAt, cancellationToken);
                    return;
            }

            await UpdateAsync(portalId, sessionId, createIfMissing: false, (session, _) => Task.FromResult(session.MarkDelivered(pending.Key)), cancellationToken);
        }
    }

    private Task HoldLeaseAsync(long portalId, string sessionId, long until, CancellationToken cancellationToken) =>
        UpdateAsync(portalId, sessionId, createIfMissing: false, (session, _) =>
        {
            session.DeliveryLeaseUntil = until;
            return Task.FromResult(true);
        }, cancellationToken);

    /// <summary>Releases the lease once the outbox is empty; false when events arrived meanwhile, which this worker then sends.</summary>
    private async Task<bool> TryReleaseLeaseAsync(long portalId, string sessionId, CancellationToken cancellationToken)
    {
        var moreToSend = false;
        await UpdateAsync(portalId, sessionId, createIfMissing: false, (session, _) =>
        {
            moreToSend = session.Outbox.Count > 0;
            if (moreToSend || session.DeliveryLeaseUntil == 0)
                return Task.FromResult(false);
            session.DeliveryLeaseUntil = 0;
            return Task.FromResult(true);
        }, cancellationToken);
        return !moreToSend;
    }

    /// <summary>Load (or create), change, save if unchanged since loading; on a conflict, all over again.</summary>
    private async Task<ViewingSession?> UpdateAsync(
        long portalId,
        string sessionId,
        bool createIfMissing,
        Func<ViewingSession, bool, Task<bool>> change,
        CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var stored = await sessions.GetAsync(portalId, sessionId, cancellationToken);
            if (stored is null && !createIfMissing)
                return null;
            var session = stored?.Session ?? new ViewingSession(portalId, sessionId);
            if (!await change(session, stored is null))
                return session;
            try
            {
                await sessions.SaveAsync(session, stored?.ETag, cancellationToken);
                return session;
            }
            catch (SessionConflictException) when (attempt < MaxConflictRetries)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 20 * attempt)), time, cancellationToken);
            }
        }
    }
}
