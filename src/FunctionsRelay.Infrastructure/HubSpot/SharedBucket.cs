using System.Collections.Concurrent;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>
/// A token bucket per portal in table <c>quotas</c> (row <paramref name="name"/>), drawn from by every instance: it fills
/// at <paramref name="rate"/> tokens a second up to <paramref name="capacity"/>, and a take writes the level left over
/// the version read (ETag), so that instances never take the same token. Each instance keeps the row as it last read or
/// wrote it, and writes over that without a read while nobody else wrote it; one table call per portal at a time here.
/// </summary>
internal sealed class SharedBucket(QuotaStore store, string name, Func<double> rate, Func<double> capacity, TimeProvider time)
{
    private const int MaxWriteAttempts = 10;

    private readonly ConcurrentDictionary<long, PortalBucket> _portals = new();

    public string Name => name;

    /// <summary>A call that would not wait its turn, and found another call of this instance at the bucket, asks again after this.</summary>
    private static readonly TimeSpan BusyWait = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Takes up to <paramref name="want"/> tokens, all above <paramref name="floor"/> (what is kept for more valuable
    /// calls): how many it took, or none and how long until one would be there (<c>Contended</c>: other instances kept
    /// writing it, or, for a call that does not <paramref name="waitTurn"/>, another call of this instance is at it; not
    /// empty). Storage errors propagate.
    /// </summary>
    /// <param name="waitTurn">
    /// Wait behind this instance's other calls to the bucket (they queue first come, first served); false: a call of low
    /// rank, which must not make a played event queue behind it, asks again later instead.
    /// </param>
    public async ValueTask<(int Taken, TimeSpan Wait, bool Contended)> TakeAsync(long portalId, int want, double floor, CancellationToken cancellationToken, bool waitTurn = true)
    {
        var bucket = _portals.GetOrAdd(portalId, _ => new PortalBucket());
        if (!waitTurn)
        {
            if (!await bucket.Turn.WaitAsync(TimeSpan.Zero, cancellationToken))
                return (0, BusyWait, true);
        }
        else
        {
            await bucket.Turn.WaitAsync(cancellationToken);
        }

        try
        {
            for (var attempt = 0; attempt < MaxWriteAttempts; attempt++)
            {
                var now = time.GetUtcNow();
                var read = bucket.Known ??= await store.GetBudgetAsync(portalId, name, cancellationToken);
                var level = LevelOf(read, now);
                if (level - floor < 1)
                    return (0, TimeSpan.FromSeconds(Math.Max(0.05, (1 + floor - level) / rate())), false);
                var take = (int)Math.Min(want, Math.Floor(level - floor));
                if (await store.TryWriteBudgetAsync(portalId, name, level - take, now, read, cancellationToken) is { } etag)
                {
                    bucket.Known = new BudgetRow(level - take, now, etag);
                    return (take, TimeSpan.Zero, false);
                }

                // Another instance took from the bucket since it was read: read it again.
                bucket.Known = null;
            }

            return (0, TimeSpan.FromMilliseconds(100), true);
        }
        catch
        {
            bucket.Known = null;
            throw;
        }
        finally
        {
            bucket.Turn.Release();
        }
    }

    /// <summary>
    /// How long until the bucket would have a token above <paramref name="floor"/>, as this instance last saw it (no
    /// storage call; other instances may have taken more since); null when it would have one now, or was not seen yet.
    /// </summary>
    public TimeSpan? LikelyRefused(long portalId, double floor)
    {
        if (!_portals.TryGetValue(portalId, out var bucket) || bucket.Known is not { } known)
            return null;
        var level = LevelOf(known, time.GetUtcNow());
        return level - floor >= 1 ? null : TimeSpan.FromSeconds(Math.Max(0.05, (1 + floor - level) / rate()));
    }

    /// <summary>Puts the bucket <paramref name="duration"/>'s worth of tokens in debt, unless it is deeper already.</summary>
    public async ValueTask IndebtAsync(long portalId, TimeSpan duration, CancellationToken cancellationToken)
    {
        var bucket = _portals.GetOrAdd(portalId, _ => new PortalBucket());
        await bucket.Turn.WaitAsync(cancellationToken);
        try
        {
            for (var attempt = 0; attempt < MaxWriteAttempts / 2; attempt++)
            {
                var now = time.GetUtcNow();
                var read = bucket.Known ??= await store.GetBudgetAsync(portalId, name, cancellationToken);
                var debt = -duration.TotalSeconds * rate();
                if (LevelOf(read, now) <= debt)
                    return;
                if (await store.TryWriteBudgetAsync(portalId, name, debt, now, read, cancellationToken) is { } etag)
                {
                    bucket.Known = new BudgetRow(debt, now, etag);
                    return;
                }

                bucket.Known = null;
            }
        }
        catch
        {
            bucket.Known = null;
            throw;
        }
        finally
        {
            bucket.Turn.Release();
        }
    }

    private double LevelOf(BudgetRow? read, DateTimeOffset now) =>
        read is null ? capacity() : Math.Min(capacity(), read.Tokens + (Math.Max(0, (now - read.At).TotalSeconds) * rate()));

    private sealed class PortalBucket
    {
        /// <summary>The row as this instance last read or wrote it: written over without a read while nobody else wrote it.</summary>
        public BudgetRow? Known { get; set; }

        public SemaphoreSlim Turn { get; } = new(1, 1);
    }
}
