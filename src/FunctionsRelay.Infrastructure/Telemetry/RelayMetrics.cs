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
    }

    public void BeaconsAccepted(long portalId, int count) => _beaconsAccepted.Add(count, Portal(portalId));

    /// <summary>A refused request names no trustworthy portal: it is counted by reason only.</summary>
    public void RequestRefused(string reason) => _requestsRefused.Add(1, new KeyValuePair<string, object?>("reason", reason));

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
