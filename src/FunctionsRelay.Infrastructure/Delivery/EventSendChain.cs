using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Delivery;

/// <summary>What one try at a session's next event came to, and the bound that refused it, if one did.</summary>
public sealed record SendAttempt(DeliveryResult Result, SessionRefusal Refusal);

/// <summary>
/// One try at a session's next event, in the order it must go: the viewer gate (bounds, holds, the contact an email
/// resolves to), then the media object the event points at, then HubSpot's event endpoint (<see cref="IMediaEventSender"/>).
/// A media object that may not be made waits at most <c>Relay__MediaObjectWaitLimit</c>: past it, the events are dropped.
/// </summary>
public sealed class EventSendChain(
    ViewerGate viewers,
    IMediaEventSender sender,
    OEmbedLinks oembed,
    IOptions<SessionOptions> sessionOptions,
    IOptions<RelayOptions> relayOptions,
    TimeProvider time)
{
    /// <remarks>Notes on the session what the gate learnt (counted against its viewer's hour, the viewer's keys).</remarks>
    public async Task<SendAttempt> SendAsync(ViewingSession session, PendingEvent pending, DateTimeOffset answerBy, CancellationToken cancellationToken)
    {
        var gate = await viewers.CheckAsync(session, pending, answerBy, cancellationToken);
        session.ViewerCounted |= gate.ViewerCounted;
        var toSend = gate.ContactId is { } id ? pending with { Payload = MediaEventPayload.WithContactId(pending.Payload, id) } : pending;
        var media = MediaObjectSpec.For(session, sessionOptions.Value, oembed.FallbackFor);
        var result = gate.Instead ?? await sender.SendAsync(session.PortalId, session.SessionId, toSend, media, cancellationToken, answerBy, gate.Priority);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        return result.Outcome == DeliveryOutcome.AwaitingMedia && now >= session.MediaWaitEndsAt(now, relayOptions.Value.MediaObjectWaitLimit)
            ? new(DeliveryResult.Dropped, SessionRefusal.MediaBound)
            : new(result, gate.Refusal);
    }
}
