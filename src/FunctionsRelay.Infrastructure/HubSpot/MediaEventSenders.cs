using System.Collections.Concurrent;
using System.Text.Json;
using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Domain.Sessions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

public enum DeliveryOutcome
{
    Delivered,

    /// <summary>Not now (rate limit, outage): keep the event and try again after <see cref="DeliveryResult.RetryAfter"/>.</summary>
    RetryLater,

    /// <summary>
    /// The portal has no usable token (never installed, uninstalled, or its refresh token refused): keep the event and try
    /// again after <see cref="DeliveryResult.RetryAfter"/>, until <see cref="HubSpotOptions.GiveUpWithoutTokenAfter"/>.
    /// </summary>
    NoToken,

    /// <summary>HubSpot refused the event itself (a 4xx other than 401 and 429): dead-letter it, never retry it.</summary>
    Rejected,

    /// <summary>The viewer (a utk) is not a HubSpot contact yet: keep the session's events and ask again after <see cref="DeliveryResult.RetryAfter"/>.</summary>
    Held,

    /// <summary>The viewer did not become a contact within <see cref="RelayOptions.HoldAnonymousFor"/>: the event is dropped, not sent.</summary>
    Dropped,

    /// <summary>
    /// The event's media object may not be made now (the portal's bounds of new media, or its objects come from its catalog
    /// alone): keep the events and look again after <see cref="DeliveryResult.RetryAfter"/>, until
    /// <see cref="RelayOptions.MediaObjectWaitLimit"/>.
    /// </summary>
    AwaitingMedia,
}

public sealed record DeliveryResult(DeliveryOutcome Outcome, TimeSpan RetryAfter = default, int Status = 0, string? Answer = null)
{
    public static readonly DeliveryResult Delivered = new(DeliveryOutcome.Delivered);

    public static DeliveryResult Later(TimeSpan delay, string reason) => new(DeliveryOutcome.RetryLater, delay, Answer: reason);

    public static DeliveryResult WithoutToken(TimeSpan delay, string reason) => new(DeliveryOutcome.NoToken, delay, Answer: reason);

    public static DeliveryResult HeldFor(TimeSpan delay, string reason) => new(DeliveryOutcome.Held, delay, Answer: reason);

    public static DeliveryResult AwaitingMediaFor(TimeSpan delay, string reason) => new(DeliveryOutcome.AwaitingMedia, delay, Answer: reason);

    public static readonly DeliveryResult Dropped = new(DeliveryOutcome.Dropped);
}

/// <summary>Sends one decided event of a session to HubSpot (or, in dry-run, to a file).</summary>
public interface IMediaEventSender
{
    /// <summary>
    /// Sends the event; with <paramref name="media"/>, first makes sure the portal has that media object and points the
    /// event at it by HubSpot's id.
    /// </summary>
    /// <remarks>With <paramref name="answerBy"/>, every call it makes ends by then (<see cref="HubSpotClient.SendAsync"/>).</remarks>
    /// <param name="priority">The event's rank in the portal's budget when not its kind's own (a viewer's later session).</param>
    Task<DeliveryResult> SendAsync(
        long portalId, string sessionId, PendingEvent pending, MediaObjectSpec? media, CancellationToken cancellationToken, DateTimeOffset? answerBy = null, CallPriority? priority = null);
}

/// <summary>Told of each event delivered (the local host's demo page shows them); a host may register any number.</summary>
public interface IDeliveryObserver
{
    void Delivered(long portalId, string sessionId, PendingEvent pending);
}

/// <summary>Posts events to HubSpot's Media Bridge event endpoints, each pointing at its media object.</summary>
public sealed class HubSpotMediaEventSender(HubSpotClient hubSpot, MediaObjectService mediaObjects) : IMediaEventSender
{
    public async Task<DeliveryResult> SendAsync(
        long portalId, string sessionId, PendingEvent pending, MediaObjectSpec? media, CancellationToken cancellationToken, DateTimeOffset? answerBy = null, CallPriority? priority = null)
    {
        var payload = pending.Payload;
        if (media is not null)
        {
            var resolved = await mediaObjects.ResolveAsync(portalId, media, cancellationToken, answerBy);
            if (resolved.ObjectId is not { } objectId)
                return resolved.Result;
            payload = MediaObjectSpec.WithMediaBridgeId(payload, objectId);
        }

        var answer = await hubSpot.SendAsync(portalId, HttpMethod.Post, MediaEventRoutes.PathOf(pending.Kind), payload, cancellationToken, answerBy, priority ?? PriorityOf(pending.Kind));
        return answer.Result;
    }

    private static CallPriority PriorityOf(MediaEventKind kind) => kind switch
    {
        MediaEventKind.Played => CallPriority.Played,
        MediaEventKind.AttentionSpan => CallPriority.AttentionSpan,
        _ => CallPriority.Quartile,
    };
}

/// <summary>
/// With no HubSpot app configured: logs each event (never its payload, which names the viewer) and appends it as a JSON
/// line to a file (<c>HubSpot__DryRunFile</c>, on the developer's own machine), and sends nothing.
/// </summary>
public sealed class DryRunMediaEventSender(IOptions<HubSpotOptions> options, ILogger<DryRunMediaEventSender> logger) : IMediaEventSender, IDisposable
{
    private readonly SemaphoreSlim _fileLock = new(1, 1);

    public void Dispose() => _fileLock.Dispose();

    public async Task<DeliveryResult> SendAsync(
        long portalId, string sessionId, PendingEvent pending, MediaObjectSpec? media, CancellationToken cancellationToken, DateTimeOffset? answerBy = null, CallPriority? priority = null)
    {
        var path = MediaEventRoutes.PathOf(pending.Kind);
        logger.LogInformation("Dry run: would POST {Path} for portal {PortalId}, session {SessionId} ({EventKey}; its payload is in {DryRunFile})", path, portalId, sessionId, pending.Key, options.Value.DryRunFile);
        using var payload = JsonDocument.Parse(pending.Payload);
        var line = JsonSerializer.Serialize(new DryRunLine(portalId, sessionId, pending.Key, path, payload.RootElement), JsonSerializerOptions.Web) + "\n";
        var file = Path.GetFullPath(options.Value.DryRunFile);
        await _fileLock.WaitAsync(cancellationToken);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.AppendAllTextAsync(file, line, cancellationToken);
        }
        finally
        {
            _fileLock.Release();
        }

        return DeliveryResult.Delivered;
    }

    private sealed record DryRunLine(long PortalId, string SessionId, string Event, string Path, JsonElement Payload);
}
