using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Ingest;

/// <summary>What became of a request: accepted (202), or refused with the errors and the status that says why (400, 401, 403, 429).</summary>
public sealed record IngestResult(int Accepted, int Ignored, IReadOnlyList<string> Errors, int Status = 202)
{
    /// <summary>For a 429: when the portal's players may send again.</summary>
    public TimeSpan RetryAfter { get; init; }

    /// <summary>Of a source's event batches, those without a media event: accepted and ignored.</summary>
    public int BatchesWithoutMedia { get; init; }

    public bool IsValid => Errors.Count == 0;
}

/// <summary>Validates a request body and queues its beacons, one message per session. A body with any invalid beacon queues nothing.</summary>
public sealed class BeaconIngestService(
    BeaconParser parser,
    BeaconQueue queue,
    PortalAccessCheck access,
    IngestRateLimits rates,
    IOptions<BeaconLimits> limits,
    RelayMetrics metrics,
    TimeProvider time,
    ILogger<BeaconIngestService> logger)
{
    /// <summary>Ingests a body as its portals' own players would send it (the tests' and tools' way in).</summary>
    public Task<IngestResult> IngestAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        IngestAsync(body, null, cancellationToken);

    /// <summary>Ingests a body whose portals must accept <paramref name="credentials"/>; null: trusted (not from the internet).</summary>
    public Task<IngestResult> IngestAsync(ReadOnlyMemory<byte> body, BeaconCredentials? credentials, CancellationToken cancellationToken) =>
        AcceptAsync(parser.Parse(body, time.GetUtcNow()), credentials, cancellationToken);

    /// <summary>
    /// Ingests what mParticle's Webhook output posts: the secret source key names the portal (and vouches for the viewers
    /// its batches name), so it is checked before the body is read.
    /// </summary>
    public async Task<IngestResult> IngestMParticleAsync(ReadOnlyMemory<byte> body, string? secretKey, CancellationToken cancellationToken)
    {
        var (portalId, refusal) = await access.SourcePortalAsync(secretKey, cancellationToken);
        if (refusal is not null)
        {
            RelayLog.BeaconsRejected(logger, 1, refusal.Error);
            metrics.RequestRefused(refusal.Reason, refusal.InstalledPortalId);
            return new IngestResult(0, 0, [refusal.Error], refusal.Status);
        }

        var batch = parser.ParseMParticleBatches(body, time.GetUtcNow(), portalId);
        var result = await AcceptAsync(batch, new BeaconCredentials(null, null, SecretKey: secretKey), cancellationToken);
        return result with { BatchesWithoutMedia = batch.BatchesWithoutMedia };
    }

    private async Task<IngestResult> AcceptAsync(BeaconBatch batch, BeaconCredentials? credentials, CancellationToken cancellationToken)
    {
        if (!batch.IsValid)
        {
            RelayLog.BeaconsRejected(logger, batch.Errors.Count, batch.Errors[0].ToString());
            metrics.RequestRefused("invalid");
            return new IngestResult(0, 0, batch.Errors.Select(error => error.ToString()).ToList(), 400);
        }

        if (BeaconQueue.Oversized(batch.Beacons).ToList() is [var first, ..] oversized)
        {
            RelayLog.BeaconsRejected(logger, oversized.Count, first);
            metrics.RequestRefused("oversized");
            return new IngestResult(0, 0, oversized, 400);
        }

        if (credentials is not null
            && await access.CheckAsync(batch.Beacons, batch.Summaries, credentials, cancellationToken) is { } refusal)
        {
            RelayLog.BeaconsRejected(logger, 1, refusal.Error);
            metrics.RequestRefused(refusal.Reason, refusal.InstalledPortalId);
            return new IngestResult(0, 0, [refusal.Error], refusal.Status);
        }

        foreach (var portalId in batch.Beacons.Select(b => b.PortalId).Distinct())
        {
            if (credentials is not null && rates.PortalMustWait(portalId) is { } wait)
            {
                metrics.RequestRefused("rate_portal", portalId);
                return new IngestResult(0, 0, [$"rate: more than {limits.Value.RequestsPerMinutePerPortal} requests a minute for portal {portalId}"], 429) { RetryAfter = wait };
            }
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
