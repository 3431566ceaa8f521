using FunctionsRelay.Testing;

namespace FunctionsRelay.LoadTest;

/// <summary>One portal's HubSpot calls while it had a backlog: how close to its pace and to HubSpot's limit it went.</summary>
public sealed record PortalBudget(
    long PortalId, int Calls, double BacklogSeconds, double PerTenSeconds, double ShareOfPace, double ShareOfLimit, int SlowestTenSeconds, IReadOnlyList<int> PerTenSecondsFromStart);

/// <summary>What the stand-in HubSpot's account limit saw over every instance: 429s, and each portal's delivery rate.</summary>
public sealed record Budget(int Calls, int Limited, int LimitedAfterFirst10s, double LimitedShare, double LimitedShareAfterFirst10s, IReadOnlyList<PortalBudget> Portals)
{
    /// <summary>
    /// Figures from the calls' arrival times. A portal's backlog is taken as the span from its first call to its last,
    /// less the first and last 10 s (the ramp and the tail); its rate is its calls in that span per 10 s, and the
    /// slowest 10 s within it the fewest calls any whole 10 s window there held.
    /// </summary>
    public static Budget Of(FakeHubSpot hubSpot, long startMs, int limit, int pace)
    {
        var (calls, callsLater, limited, limitedLater) = (0, 0, 0, 0);
        var portals = new List<PortalBudget>();
        foreach (var portalId in hubSpot.LimitedPortals.Order())
        {
            var (answered, refused) = hubSpot.CallTimes(portalId);
            calls += answered.Count + refused.Count;
            callsLater += answered.Concat(refused).Count(t => t - startMs > 10_000);
            limited += refused.Count;
            limitedLater += refused.Count(t => t - startMs > 10_000);
            if (answered.Count < 2)
                continue;
            var times = answered.Order().ToList();
            var (from, to) = (times[0] + 10_000, times[^1] - 10_000);
            if (to - from < 10_000)
                continue;
            var inside = times.Count(t => t >= from && t <= to);
            var perTen = inside / ((to - from) / 10_000.0);
            var slowest = int.MaxValue;
            for (var start = from; start + 10_000 <= to; start += 1_000)
                slowest = Math.Min(slowest, times.Count(t => t >= start && t < start + 10_000));
            var series = times.GroupBy(t => (int)((t - startMs) / 10_000)).ToDictionary(g => g.Key, g => g.Count());
            var fromStart = Enumerable.Range(0, series.Keys.Max() + 1).Select(i => series.GetValueOrDefault(i)).ToList();
            portals.Add(new PortalBudget(portalId, answered.Count, (to - from) / 1000.0, perTen, perTen / pace, perTen / limit, slowest, fromStart));
        }

        return new Budget(calls, limited, limitedLater, (double)limited / Math.Max(1, calls), (double)limitedLater / Math.Max(1, callsLater), portals);
    }
}
