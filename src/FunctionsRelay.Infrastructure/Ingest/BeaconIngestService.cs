using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Infrastructure.Ingest;

public sealed record IngestResult(int Accepted, int Ignored, IReadOnlyList<string> Errors)
{
    public bool IsValid => Errors.Count == 0;
}

/// <summary>Validates a request body and queues its beacons, one message per session. A body with any invalid beacon queues nothing.</summary>
public sealed class BeaconIngestService(BeaconParser parser, BeaconQueue queue, RelayMetrics metrics, TimeProvider time, ILogger<BeaconIngestService> logger)
{
    public async Task<IngestResult> IngestAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var batch = parser.Parse(body, time.GetUtcNow());
        if (!batch.IsValid)
        {
            RelayLog.BeaconsRejected(logger, batch.Errors.Count, batch.Errors[0].ToString());
            metrics.RequestRefused("invalid");
            return new IngestResult(0, 0, batch.Errors.Select(error => error.ToString()).ToList());
        }

        if (BeaconQueue.Oversized(batch.Beacons).ToList() is [var first, ..] oversized)
        {
            RelayLog.BeaconsRejected(logger, oversized.Count, first);
            metrics.RequestRefused("oversized");
            return new IngestResult(0, 0, oversized);
        }

        var messages = batch.Beacons.Count + batch.Summaries.Count == 0 ? 0 : await queue.EnqueueAsync(batch.Beacons, batch.Summaries, cancellationToken);
        RelayLog.BeaconsAccepted(
            logger,
            batch.Beacons.Count,
            batch.Summaries.Count,
            messages,
            batch.Ignored);
        foreach (var portal in batch.Beacons.GroupBy(beacon => beacon.PortalId))
            metrics.BeaconsAccepted(portal.Key, portal.Count());
        return new IngestResult(batch.Beacons.Count + batch.Summaries.Count, batch.Ignored, []);
    }
}
