using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Telemetry;

/// <summary>Counters added up over a time: by name (<c>beacons.accepted</c>, <c>requests.refused.wrong_key</c>, <c>hubspot.answers.2xx</c>, ...) and the latency buckets.</summary>
public sealed record FigureTotals(IReadOnlyDictionary<string, long> Counts, IReadOnlyList<long> Latency)
{
    public static FigureTotals Empty { get; } = new(new Dictionary<string, long>(), new long[RelayMetrics.LatencyBuckets.Count + 1]);

    public long this[string name] => Counts.GetValueOrDefault(name);

    /// <summary>The counts of one counter by its reason or status class: <c>By("requests.refused")</c> gives <c>wrong_key</c> → 3, ...</summary>
    public IReadOnlyDictionary<string, long> By(string counter) => Counts
        .Where(count => count.Key.StartsWith(counter + ".", StringComparison.Ordinal))
        .OrderBy(count => count.Key, StringComparer.Ordinal)
        .ToDictionary(count => count.Key[(counter.Length + 1)..], count => count.Value);

    public long Total(string counter) => this[counter] + By(counter).Values.Sum();

    public long Delivered => this["events.delivered"];

    /// <summary>Median delivery latency in seconds, estimated from the buckets; null when nothing was delivered.</summary>
    public double? P50 => LatencyPercentile(Latency, 0.50);

    public double? P95 => LatencyPercentile(Latency, 0.95);

    /// <summary>The latencies as the operator view and <c>relay status</c> both show them (<see cref="ShownSeconds"/>).</summary>
    public string P50Shown => ShownSeconds(P50);

    public string P95Shown => ShownSeconds(P95);

    /// <summary>
    /// A latency for people: to the hundredth of a second under 10 s, whole seconds under 2 minutes, else minutes to a
    /// tenth; rounded half away from zero from whole milliseconds, so that 0.975 s is 0.98 s wherever it is shown.
    /// </summary>
    public static string ShownSeconds(double? seconds)
    {
        if (seconds is not { } value)
            return "-";
        var ms = Math.Round(value * 1000, MidpointRounding.AwayFromZero);
        var hundredths = Math.Round(ms / 10, MidpointRounding.AwayFromZero);
        if (hundredths < 1000)
            return (hundredths / 100).ToString("0.00", CultureInfo.InvariantCulture) + " s";
        var whole = Math.Round(ms / 1000, MidpointRounding.AwayFromZero);
        return whole < 120
            ? whole.ToString("0", CultureInfo.InvariantCulture) + " s"
            : (Math.Round(ms / 6000, MidpointRounding.AwayFromZero) / 10).ToString("0.0", CultureInfo.InvariantCulture) + " min";
    }

    public FigureTotals Plus(FigureTotals other)
    {
        var counts = new Dictionary<string, long>(Counts);
        foreach (var (name, value) in other.Counts)
            counts[name] = counts.GetValueOrDefault(name) + value;
        return new(counts, Latency.Zip(other.Latency, (a, b) => a + b).ToArray());
    }

    /// <summary>
    /// The latency under which a share <paramref name="quantile"/> of the deliveries came, interpolated linearly inside the
    /// bucket it falls in (a bucket holds the latencies above the bound before it, up to its own); in the last, open
    /// bucket, its lower bound. Null without deliveries.
    /// </summary>
    public static double? LatencyPercentile(IReadOnlyList<long> buckets, double quantile)
    {
        var total = buckets.Sum();
        if (total == 0)
            return null;
        var bounds = RelayMetrics.LatencyBuckets;
        var rank = quantile * total;
        long below = 0;
        for (var i = 0; i < buckets.Count; i++)
        {
            if (buckets[i] == 0 || below + buckets[i] < rank)
            {
                below += buckets[i];
                continue;
            }

            var lower = i == 0 ? 0 : bounds[i - 1];
            if (i >= bounds.Count)
                return lower;
            return lower + ((bounds[i] - lower) * (rank - below) / buckets[i]);
        }

        return bounds[^1];
    }
}

/// <summary>One point of a plot: a minute (or an hour) and what it counted.</summary>
public sealed record FigurePoint(DateTimeOffset At, long BeaconsAccepted, long RequestsRefused, long EventsDelivered, double? P50, double? P95);

/// <summary>One portal's counters (<see cref="MetricsTableExporter.NoPortal"/>: those named for none) over the last hour and day, and per minute and hour for plots.</summary>
public sealed record PortalFigures(string Portal, FigureTotals LastHour, FigureTotals LastDay, IReadOnlyList<FigurePoint> Minutes, IReadOnlyList<FigurePoint> Hours);

/// <summary>
/// Reads what <see cref="MetricsTableExporter"/> wrote: every instance's rows of the last day, added up per portal. A
/// scan of a day's rows (one per portal, minute and instance that counted anything): for an operator, not a hot path.
/// </summary>
public sealed class DeliveryFigures(StorageClients clients, IOptions<RelayOptions> options, TimeProvider time)
{
    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.MetricsTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<List<PortalFigures>> ReadAsync(long? portalId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var (hourAgo, dayAgo) = (now.AddHours(-1), now.AddDays(-1));
        var filter = portalId is { } portal
            ? TableClient.CreateQueryFilter($"PartitionKey eq {portal.ToString(CultureInfo.InvariantCulture)} and Minute ge {dayAgo}")
            : TableClient.CreateQueryFilter($"Minute ge {dayAgo}");
        var minutes = new Dictionary<string, SortedDictionary<DateTimeOffset, FigureTotals>>();
        await foreach (var row in Table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            var minute = row.GetDateTimeOffset("Minute")!.Value;
            var figures = new FigureTotals(
                JsonSerializer.Deserialize(row.GetString("Counts") ?? "{}", MetricsJsonContext.Default.DictionaryStringInt64) ?? [],
                JsonSerializer.Deserialize(row.GetString("Latency") ?? "[]", MetricsJsonContext.Default.Int64Array) is { Length: > 0 } latency
                    ? latency
                    : FigureTotals.Empty.Latency);
            if (!minutes.TryGetValue(row.PartitionKey, out var series))
                minutes[row.PartitionKey] = series = [];
            series[minute] = series.TryGetValue(minute, out var earlier) ? earlier.Plus(figures) : figures;
        }

        return minutes
            .OrderBy(portal => portal.Key == MetricsTableExporter.NoPortal ? 1 : 0)
            .ThenBy(portal => long.TryParse(portal.Key, CultureInfo.InvariantCulture, out var id) ? id : 0)
            .Select(portal => new PortalFigures(
                portal.Key,
                Sum(portal.Value.Where(minute => minute.Key >= hourAgo)),
                Sum(portal.Value),
                Points(portal.Value.Where(minute => minute.Key >= hourAgo), at => at),
                Points(portal.Value, at => new DateTimeOffset(at.Year, at.Month, at.Day, at.Hour, 0, 0, TimeSpan.Zero))))
            .ToList();
    }

    private static FigureTotals Sum(IEnumerable<KeyValuePair<DateTimeOffset, FigureTotals>> minutes) =>
        minutes.Aggregate(FigureTotals.Empty, (sum, minute) => sum.Plus(minute.Value));

    private static List<FigurePoint> Points(IEnumerable<KeyValuePair<DateTimeOffset, FigureTotals>> minutes, Func<DateTimeOffset, DateTimeOffset> bucket) =>
        minutes
            .GroupBy(minute => bucket(minute.Key))
            .Select(group => (At: group.Key, Figures: Sum(group)))
            .Select(point => new FigurePoint(
                point.At,
                point.Figures["beacons.accepted"],
                point.Figures.Total("requests.refused"),
                point.Figures.Delivered,
                point.Figures.P50,
                point.Figures.P95))
            .ToList();
}
