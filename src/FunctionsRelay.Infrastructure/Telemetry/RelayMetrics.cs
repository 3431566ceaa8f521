using System.Diagnostics.Metrics;
using System.Globalization;

namespace FunctionsRelay.Infrastructure.Telemetry;

/// <summary>
/// The relay's own counters (meter <c>FunctionsRelay</c>), exported with OpenTelemetry where the host sends its telemetry:
/// Application Insights on Azure, an OTLP endpoint or the console locally. Each is tagged with the HubSpot account.
/// </summary>
public sealed class RelayMetrics
{
    public const string MeterName = "FunctionsRelay";

    private readonly Counter<long> _beaconsAccepted;
    private readonly Counter<long> _requestsRefused;
    private readonly Counter<long> _eventsDelivered;
    private readonly Counter<long> _eventsDeadLettered;
    private readonly Counter<long> _hubSpotAnswers;
    private readonly Counter<long> _mediaObjectsMade;
    private readonly Counter<long> _messagesPoisoned;
    private readonly Counter<long> _sessionsOpened;
    private readonly Counter<long> _sessionsClosed;
    private readonly Counter<long> _eventsDecided;
    private readonly Histogram<double> _deliveryLatency;
    private readonly Counter<long> _sessionsHeld;
    private readonly Counter<long> _eventsDropped;

    /// <summary>
    /// The delivery latency's buckets, in seconds: from a beacon's round trip through the queue (under a second) to a
    /// token waited for a day.
    /// </summary>
    public static readonly IReadOnlyList<double> LatencyBuckets =
        [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

    public RelayMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _beaconsAccepted = meter.CreateCounter<long>("relay.beacons.accepted", "{beacon}", "Beacons accepted and queued");
        _requestsRefused = meter.CreateCounter<long>("relay.requests.refused", "{request}", "Beacon requests refused, by reason");
        _eventsDelivered = meter.CreateCounter<long>("relay.events.delivered", "{event}", "HubSpot events delivered, by kind");
        _eventsDeadLettered = meter.CreateCounter<long>("relay.events.dead_lettered", "{event}", "HubSpot events kept in the dead letters");
        _hubSpotAnswers = meter.CreateCounter<long>("relay.hubspot.answers", "{answer}", "HubSpot's answers, by status class");
        _mediaObjectsMade = meter.CreateCounter<long>("relay.media_objects.made", "{object}", "HubSpot media objects the relay made");
        _messagesPoisoned = meter.CreateCounter<long>("relay.messages.poisoned", "{message}", "Queue messages given up on after their last attempt");
        _sessionsOpened = meter.CreateCounter<long>("relay.sessions.opened", "{session}", "Viewing sessions begun");
        _sessionsClosed = meter.CreateCounter<long>("relay.sessions.closed", "{session}", "Viewing sessions closed, by reason");
        _eventsDecided = meter.CreateCounter<long>("relay.events.decided", "{event}", "HubSpot events decided, by kind");
        _sessionsHeld = meter.CreateCounter<long>("relay.sessions.held", "{session}", "Sessions held because their viewer (a utk or an email) is not a HubSpot contact yet");
        _eventsDropped = meter.CreateCounter<long>("relay.events.dropped", "{event}", "HubSpot events dropped unsent, by reason");
        _deliveryLatency = meter.CreateHistogram(
            "relay.delivery.latency",
            "s",
            "From the arrival of the beacon that made an event due (or the close that did) to HubSpot's 2xx for it",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
    }

    public void BeaconsAccepted(long portalId, int count) => _beaconsAccepted.Add(count, Portal(portalId));

    /// <summary>
    /// A refused request is counted by reason, and by portal only where the portal is one that installed the app (a wrong
    /// key, a foreign origin): portals made up by a flood must not make a series each.
    /// </summary>
    public void RequestRefused(string reason, long? installedPortalId = null)
    {
        var why = new KeyValuePair<string, object?>("reason", reason);
        if (installedPortalId is { } portal)
            _requestsRefused.Add(1, Portal(portal), why);
        else
            _requestsRefused.Add(1, why);
    }

    public void SessionOpened(long portalId) => _sessionsOpened.Add(1, Portal(portalId));

    public void SessionClosed(long portalId, string reason) => _sessionsClosed.Add(1, Portal(portalId), new("reason", reason));

    public void EventDecided(long portalId, string kind) => _eventsDecided.Add(1, Portal(portalId), new("event.kind", kind));

    public void SessionHeld(long portalId) => _sessionsHeld.Add(1, Portal(portalId));

    public void EventDropped(long portalId, string kind, string reason) => _eventsDropped.Add(1, Portal(portalId), new("event.kind", kind), new("reason", reason));

    public void DeliveryLatency(long portalId, string kind, TimeSpan latency) =>
        _deliveryLatency.Record(Math.Max(0, latency.TotalSeconds), Portal(portalId), new("event.kind", kind));

    public void EventDelivered(long portalId, string kind) => _eventsDelivered.Add(1, Portal(portalId), new("event.kind", kind));

    public void EventDeadLettered(long portalId, string kind) => _eventsDeadLettered.Add(1, Portal(portalId), new("event.kind", kind));

    /// <summary>HubSpot's answer: <c>2xx</c>, <c>401</c>, <c>429</c>, <c>4xx</c>, <c>5xx</c> or <c>unreachable</c>.</summary>
    public void HubSpotAnswered(long portalId, int? status) =>
        _hubSpotAnswers.Add(1, Portal(portalId), new("http.status_class", status switch
        {
            null => "unreachable",
            >= 200 and < 300 => "2xx",
            401 or 429 => status.Value.ToString(CultureInfo.InvariantCulture),
            >= 500 => "5xx",
            _ => "4xx",
        }));

    public void MediaObjectMade(long portalId) => _mediaObjectsMade.Add(1, Portal(portalId));

    /// <summary>A message whose body names no portal is counted without one.</summary>
    public void MessagePoisoned(long? portalId)
    {
        if (portalId is { } portal)
            _messagesPoisoned.Add(1, Portal(portal));
        else
            _messagesPoisoned.Add(1);
    }

    private static KeyValuePair<string, object?> Portal(long portalId) => new("hubspot.portal_id", portalId);
}
