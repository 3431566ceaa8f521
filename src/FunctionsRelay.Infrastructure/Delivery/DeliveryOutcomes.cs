using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Delivery;

/// <summary>
/// What each outcome of a send leaves besides the session itself: counters, log lines, dead letters, and the observers
/// told of a delivered event. The outbox deliverer decides; this records.
/// </summary>
public sealed class DeliveryOutcomes(
    DeadLetterStore deadLetters,
    RelayMetrics metrics,
    IEnumerable<IDeliveryObserver> observers,
    IOptions<RelayOptions> relayOptions,
    IOptions<HubSpotOptions> hubSpotOptions,
    TimeProvider time,
    ILogger<DeliveryOutcomes> logger)
{
    /// <summary>Portals warned about being behind in the last minute, so that a backlog makes one line a minute, not one per event.</summary>
    private readonly ExpiringCache<long, bool> _warnedBehind = new(10_000, time);

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    public void Coalesced(ViewingSession session, PendingEvent coalesced)
    {
        RelayLog.QuartileCoalesced(logger, coalesced.Key, session.PortalId, session.SessionId);
        metrics.EventDropped(session.PortalId, coalesced.Key, "coalesced");
    }

    public void Delivered(ViewingSession session, PendingEvent pending)
    {
        var (portalId, sessionId) = (session.PortalId, session.SessionId);
        RelayLog.EventDelivered(logger, pending.Key, portalId, sessionId);
        metrics.EventDelivered(portalId, pending.Key);
        // Held events waited for their viewer, not for delivery: they would make the latency a viewer's conversion time.
        if (pending.DueSince > 0 && session.AnonymousHeldSince == 0)
        {
            var waitedFor = TimeSpan.FromMilliseconds(Now - pending.DueSince);
            metrics.DeliveryLatency(portalId, pending.Key, waitedFor);
            WarnIfBehind(portalId, waitedFor);
        }

        foreach (var observer in observers)
            observer.Delivered(portalId, sessionId, pending);
    }

    public async Task RejectedAsync(ViewingSession session, PendingEvent pending, DeliveryResult result, CancellationToken cancellationToken)
    {
        logger.LogWarning(
            "HubSpot rejected {EventKey} of session {PortalId}/{SessionId} with {Status}; it is dead-lettered",
            pending.Key,
            session.PortalId,
            session.SessionId,
            result.Status);
        await deadLetters.AddAsync(session.PortalId, session.SessionId, pending, result.Status, result.Answer, cancellationToken);
        metrics.EventDeadLettered(session.PortalId, pending.Key);
    }

    /// <summary>Retries without a token come every <c>NoTokenRetryDelay</c>: so many of them make the give-up time.</summary>
    public bool WaitedLongEnoughForToken(int attempt)
    {
        var settings = hubSpotOptions.Value;
        return attempt * settings.NoTokenRetryDelay.Ticks >= settings.GiveUpWithoutTokenAfter.Ticks;
    }

    public async Task GivenUpWithoutTokenAsync(ViewingSession session, PendingEvent pending, DeliveryResult result, CancellationToken cancellationToken)
    {
        var waited = hubSpotOptions.Value.GiveUpWithoutTokenAfter;
        logger.LogWarning(
            "Portal {PortalId} has had no usable token for about {Waited}: {EventKey} of session {SessionId} is given up and dead-lettered",
            session.PortalId,
            waited,
            pending.Key,
            session.SessionId);
        await deadLetters.AddAsync(session.PortalId, session.SessionId, pending, 0, $"{result.Answer} for about {waited}; not sent", cancellationToken);
        metrics.EventDeadLettered(session.PortalId, pending.Key);
    }

    /// <summary>An event a bound refused: the session notes the refusal, said once per session.</summary>
    public void Refused(ViewingSession session, PendingEvent pending, SessionRefusal refusal)
    {
        if (session.Refused == SessionRefusal.None)
            LogRefusal(session, refusal);
        metrics.EventDropped(session.PortalId, pending.Key, DropReasonOf(refusal));
        session.Refused = refusal;
    }

    /// <summary>An event of a held session whose viewer never became a contact within the hold.</summary>
    public void DroppedAfterHold(ViewingSession session, PendingEvent pending)
    {
        logger.LogWarning(
            "Session {PortalId}/{SessionId}: its viewer's {Viewer} has not become a HubSpot contact in {HoldAnonymousFor}: {EventKey} is dropped, not sent",
            session.PortalId,
            session.SessionId,
            session.Email is null ? "utk" : "email",
            relayOptions.Value.HoldAnonymousFor,
            pending.Key);
        metrics.EventDropped(session.PortalId, pending.Key, "anonymous");
    }

    /// <summary>A delivery that waits: said at Information, a held session's repeated asks only at Debug.</summary>
    public void Paused(ViewingSession session, TimeSpan delay, int attempt, DeliveryResult result) =>
        logger.Log(
            result.Outcome == DeliveryOutcome.Held ? LogLevel.Debug : LogLevel.Information,
            "Delivery of session {PortalId}/{SessionId} paused for {Delay} (attempt {Attempt}): {Reason}",
            session.PortalId,
            session.SessionId,
            delay,
            attempt,
            result.Answer);

    /// <summary>A session held for the first time: its viewer is not a contact yet.</summary>
    public void Held(ViewingSession session, DeliveryResult result)
    {
        metrics.SessionHeld(session.PortalId);
        logger.LogInformation(
            "Session {PortalId}/{SessionId} is held: {Reason}; asked again after {CheckInterval}, then after as long as it has been held (up to a day), dropped after {HoldAnonymousFor}",
            session.PortalId,
            session.SessionId,
            result.Answer,
            relayOptions.Value.AnonymousCheckInterval,
            relayOptions.Value.HoldAnonymousFor);
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
}
