using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;
using FunctionsRelay.Infrastructure.Privacy;
using FunctionsRelay.Infrastructure.Protection;
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
    Pseudonyms pseudonyms,
    ViewerEmails emails,
    IOptions<BeaconLimits> limits,
    RelayMetrics metrics,
    TimeProvider time,
    ILogger<BeaconIngestService> logger)
{
    /// <summary>Ingests a body as its portals' own players would send it (the tests' and tools' way in).</summary>
    public Task<IngestResult> IngestAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        IngestAsync(body, null, cancellationToken);

    /// <summary>
    /// Ingests a body whose portals must accept <paramref name="credentials"/>; null: trusted (not from the internet). A
    /// request with a secret source key is a backend's: not held to a page's counts of beacons and sessions.
    /// </summary>
    public Task<IngestResult> IngestAsync(ReadOnlyMemory<byte> body, BeaconCredentials? credentials, CancellationToken cancellationToken) =>
        AcceptAsync(parser.Parse(body, time.GetUtcNow(), trusted: credentials?.SecretKey is not null), credentials, cancellationToken);

    /// <summary>
    /// The portal a source's secret key names, or why its request is refused (401, 403): checked before its body is read,
    /// so that a request without a key that counts costs no read of a body of up to <c>Beacons__MaxSourceBodyBytes</c>.
    /// </summary>
    public async Task<(long PortalId, IngestResult? Refused)> SourceAsync(string? secretKey, CancellationToken cancellationToken)
    {
        var (portalId, refusal) = await access.SourcePortalAsync(secretKey, cancellationToken);
        if (refusal is null)
            return (portalId, null);
        RelayLog.BeaconsRejected(logger, 1, refusal.Error);
        metrics.RequestRefused(refusal.Reason, refusal.InstalledPortalId);
        return (portalId, new IngestResult(0, 0, [refusal.Error], refusal.Status));
    }

    /// <summary>
    /// Ingests what mParticle's Webhook output posts for the portal its secret source key names (<see cref="SourceAsync"/>),
    /// which vouches for the viewers its batches name.
    /// </summary>
    public async Task<IngestResult> IngestMParticleAsync(ReadOnlyMemory<byte> body, long portalId, string secretKey, CancellationToken cancellationToken)
    {
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

        // A viewer's email leaves the request encrypted: no queue message, session or poisoned copy holds it as it is.
        batch = batch with { Beacons = ProtectEmails(batch.Beacons) };

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

        var messages = batch.Beacons.Count + batch.Summaries.Count == 0 ? 0 : await queue.EnqueueAsync(batch.Beacons, batch.Summaries, await SourceOfAsync(credentials, cancellationToken), cancellationToken);
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

    private List<Beacon> ProtectEmails(IReadOnlyList<Beacon> beacons) =>
        [.. beacons.Select(beacon => beacon.Contact is { Email: { } email } contact ? beacon with { Contact = contact with { Email = emails.Protect(email) } } : beacon)];

    /// <summary>Who sent the request, as its messages carry it: trusted (a secret key), or the pseudonym of the client's address.</summary>
    private async ValueTask<string?> SourceOfAsync(BeaconCredentials? credentials, CancellationToken cancellationToken) => credentials switch
    {
        { SecretKey: not null } => RelayMessage.TrustedSource,
        { Address: { } address } => await pseudonyms.OfAsync("address", address, cancellationToken),
        _ => null,
    };
}
