using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace FunctionsRelay.Infrastructure.Telemetry;

/// <summary>
/// Writes what OpenTelemetry collects of the relay's meter to the metrics table, beside whatever else the host exports
/// to (Application Insights on Azure): per portal, minute and instance, one row with the counters (by reason or status
/// class) and the delivery latency's buckets. The operator view and <c>relay status</c> read those rows, so they show
/// what was exported rather than a bookkeeping of their own, from every instance, across restarts.
/// </summary>
public sealed class MetricsTableExporter(TableClient table, TimeProvider time, ILogger<MetricsTableExporter> logger) : BaseExporter<Metric>
{
    /// <summary>The partition of the counters no portal is named for (requests refused before a portal was known).</summary>
    public const string NoPortal = "-";

    private const string Prefix = "relay.";

    /// <summary>Which instance wrote a row: one per process, so a restarted instance never overwrites its earlier rows.</summary>
    private readonly string _instance = Guid.NewGuid().ToString("N")[..12];
    private readonly Dictionary<(string Portal, DateTimeOffset Minute), MinuteFigures> _open = [];

    public override ExportResult Export(in Batch<Metric> batch)
    {
        var touched = new HashSet<(string, DateTimeOffset)>();
        foreach (var metric in batch)
        {
            if (!metric.Name.StartsWith(Prefix, StringComparison.Ordinal))
                continue;
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                var (portal, split) = (NoPortal, (string?)null);
                foreach (var tag in point.Tags)
                {
                    if (tag.Key == "hubspot.portal_id")
                        portal = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? NoPortal;
                    else if (tag.Key is "reason" or "http.status_class")
                        split = Convert.ToString(tag.Value, CultureInfo.InvariantCulture);
                }

                var key = (portal, Minute(point.EndTime));
                if (!_open.TryGetValue(key, out var figures))
                    _open[key] = figures = new MinuteFigures();
                touched.Add(key);
                var name = metric.Name[Prefix.Length..] + (split is null ? "" : "." + split);
                if (metric.MetricType == MetricType.Histogram)
                    figures.AddLatency(point);
                else if (metric.MetricType == MetricType.LongSum)
                    figures.Counts[name] = figures.Counts.GetValueOrDefault(name) + point.GetSumLong();
            }
        }

        var result = ExportResult.Success;
        foreach (var (portal, minute) in touched)
        {
            try
            {
                table.UpsertEntity(_open[(portal, minute)].ToEntity(portal, minute, _instance), TableUpdateMode.Replace);
            }
            catch (Exception ex) when (ex is Azure.RequestFailedException or IOException or TimeoutException or AggregateException)
            {
                // The figures stay in memory: the next export writes them again, with whatever came since.
                logger.LogWarning("The relay's counters of portal {PortalId} could not be written to the metrics table: {Problem}", portal, ex.Message);
                result = ExportResult.Failure;
            }
        }

        // Later exports only add to the minute they run in: older minutes are written for good.
        var current = Minute(time.GetUtcNow());
        foreach (var key in _open.Keys.Where(key => key.Minute < current.AddMinutes(-1)).ToList())
            _open.Remove(key);
        return result;
    }

    public static DateTimeOffset Minute(DateTimeOffset at) => new(at.Year, at.Month, at.Day, at.Hour, at.Minute, 0, TimeSpan.Zero);

    /// <summary>One portal's counters in one minute, on one instance.</summary>
    internal sealed class MinuteFigures
    {
        public Dictionary<string, long> Counts { get; } = [];

        public long[] Latency { get; } = new long[RelayMetrics.LatencyBuckets.Count + 1];

        public void AddLatency(in MetricPoint point)
        {
            var bucket = 0;
            foreach (var histogramBucket in point.GetHistogramBuckets())
            {
                if (bucket < Latency.Length)
                    Latency[bucket] += histogramBucket.BucketCount;
                bucket++;
            }
        }

        public TableEntity ToEntity(string portal, DateTimeOffset minute, string instance) =>
            new(portal, $"{minute.ToString("yyyyMMddHHmm", CultureInfo.InvariantCulture)}-{instance}")
            {
                ["Minute"] = minute,
                ["Counts"] = JsonSerializer.Serialize(Counts, MetricsJsonContext.Default.DictionaryStringInt64),
                ["Latency"] = JsonSerializer.Serialize(Latency, MetricsJsonContext.Default.Int64Array),
            };
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, long>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(long[]))]
internal sealed partial class MetricsJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
