using System.Threading.RateLimiting;
using FunctionsRelay.Domain.Beacons;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Ingest;

/// <summary>
/// Beacon requests allowed per client address and per portal (<c>Beacons__RequestsPerMinutePerAddress</c>,
/// <c>Beacons__RequestsPerMinutePerPortal</c>): token buckets that hold a quarter of a minute's worth, so a player's
/// burst on page unload passes and a flood does not. A normal player sends a request every few heartbeats.
/// </summary>
public sealed class IngestRateLimits : IDisposable
{
    private readonly PartitionedRateLimiter<string> _byAddress;
    private readonly PartitionedRateLimiter<long> _byPortal;

    public IngestRateLimits(IOptions<BeaconLimits> limits)
    {
        var (perAddress, perPortal) = (limits.Value.RequestsPerMinutePerAddress, limits.Value.RequestsPerMinutePerPortal);
        _byAddress = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetTokenBucketLimiter(address, _ => Bucket(perAddress)));
        _byPortal = PartitionedRateLimiter.Create<long, long>(portal => RateLimitPartition.GetTokenBucketLimiter(portal, _ => Bucket(perPortal)));
    }

    /// <summary>How long the address must wait, or null if its request may go on.</summary>
    public TimeSpan? AddressMustWait(string address) => Wait(_byAddress.AttemptAcquire(address));

    /// <summary>How long the portal's players must wait, or null if the request may go on.</summary>
    public TimeSpan? PortalMustWait(long portalId) => Wait(_byPortal.AttemptAcquire(portalId));

    public void Dispose()
    {
        _byAddress.Dispose();
        _byPortal.Dispose();
    }

    private static TimeSpan? Wait(RateLimitLease lease)
    {
        using (lease)
        {
            if (lease.IsAcquired)
                return null;
            return lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
        }
    }

    private static TokenBucketRateLimiterOptions Bucket(int perMinute) => new()
    {
        TokenLimit = Math.Max(1, perMinute / 4),
        TokensPerPeriod = Math.Max(1, perMinute / 60),
        ReplenishmentPeriod = TimeSpan.FromSeconds(perMinute >= 60 ? 1 : 60.0 / perMinute),
        QueueLimit = 0,
        AutoReplenishment = true,
    };
}
