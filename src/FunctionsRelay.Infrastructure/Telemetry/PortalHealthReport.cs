using System.Globalization;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.Infrastructure.Telemetry;

/// <summary>
/// One portal's delivery health: its state as storage holds it now (token, sessions, outbox depth, dead letters, poisoned
/// messages) and what its counters say of the last hour and day. <see cref="PortalId"/> null: the requests refused
/// before any installed portal was named.
/// </summary>
public sealed record PortalHealth(long? PortalId, PortalStatusLine? State, PortalFigures? Figures);

/// <summary>What the operator view and <c>relay status</c> show: storage's state and the exported counters, per portal.</summary>
public sealed class PortalHealthReport(PortalStatusReport states, DeliveryFigures figures, TimeProvider time)
{
    public async Task<(DateTimeOffset At, List<PortalHealth> Portals)> ReadAsync(long? portalId, CancellationToken cancellationToken)
    {
        var stateTask = states.ReadAsync(portalId, cancellationToken);
        var figuresTask = figures.ReadAsync(portalId, cancellationToken);
        var byPortal = (await stateTask).ToDictionary(line => line.PortalId);
        var counted = (await figuresTask).ToDictionary(portal => portal.Portal);
        var portals = byPortal.Keys
            .Union(counted.Keys.Where(key => key != MetricsTableExporter.NoPortal).Select(key => long.Parse(key, CultureInfo.InvariantCulture)))
            .Order()
            .Select(id => new PortalHealth(id, byPortal.GetValueOrDefault(id), counted.GetValueOrDefault(id.ToString(CultureInfo.InvariantCulture))))
            .ToList();
        if (counted.TryGetValue(MetricsTableExporter.NoPortal, out var unattributed))
            portals.Add(new PortalHealth(null, null, unattributed));
        return (time.GetUtcNow(), portals);
    }
}
