using System.Collections.Concurrent;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>
/// What a call to HubSpot is for, most valuable first: a played event (and the media objects events need), an attention
/// span, a quartile, a look-up. When a portal's calls outrun its budget the more valuable ones take it.
/// </summary>
public enum CallPriority
{
    Played,
    AttentionSpan,
    Quartile,
    LookUp,
}

/// <summary>How the relay's instances share a portal's HubSpot budget (<c>HubSpot__Budget</c>).</summary>
public enum BudgetMode
{
    /// <summary>
    /// One token bucket per portal in table <c>quotas</c>, drawn from by every instance (the default): together they send
    /// at most <see cref="HubSpotOptions.RequestsPerTenSeconds"/> per 10 s, however many instances there are.
    /// </summary>
    Shared,

    /// <summary>Each instance paces itself alone, as if it were the only one: n instances may send n times the pace.</summary>
    Instance,
}

/// <summary>
/// Keeps each portal below HubSpot's limit for OAuth apps (100-110 requests per 10 s per account, one budget for every
/// caller). Each instance keeps a sliding window of <see cref="HubSpotOptions.RequestsPerTenSeconds"/> and is paused
/// when HubSpot answers 429 or says the window is (nearly) spent. With <see cref="BudgetMode.Shared"/> every call also
/// takes a token from the portal's bucket in table <c>quotas</c>: it fills at a tenth of the pace per second up to a
/// tenth of the pace (so no 10 s, sliding or fixed, holds more than 1.1 times the pace), and an instance takes a few
/// tokens at a time (<see cref="HubSpotOptions.BudgetSlice"/>) for a quarter of a second, so that one table write
/// serves several calls. A 429 or an exhausted window puts the bucket in debt for its wait, so every instance waits it out.
/// Look-ups (<see cref="CallPriority.LookUp"/>) take at most half of the window. Below played events each priority takes
/// from the bucket only while it holds more than a floor (<see cref="FloorShare"/>): while played events keep it drained,
/// attention spans, look-ups and quartiles wait, and as soon as they do not, the others take every token that comes.
/// </summary>
public sealed class HubSpotPacer(IOptions<HubSpotOptions> options, TimeProvider time, QuotaStore? shared = null, ILogger<HubSpotPacer>? logger = null)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    /// <summary>
    /// How long tokens taken from the bucket may wait to be used: a slice used later than its tokens were counted moves
    /// calls into the next window, so it is kept short (n instances may each carry a slice over).
    /// </summary>
    private static readonly TimeSpan SliceLife = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan StorageTroubleWarningEvery = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<long, PortalWindow> _portals = new();
    private readonly ILogger _logger = logger ?? NullLogger<HubSpotPacer>.Instance;
    private DateTimeOffset _lastStorageWarning;

    /// <summary>Reserves a call for the portal: zero to go now, else how long to wait before asking again.</summary>
    public async ValueTask<TimeSpan> ReserveAsync(long portalId, CallPriority priority, CancellationToken cancellationToken)
    {
        var window = _portals.GetOrAdd(portalId, _ => new PortalWindow());
        var local = ReserveLocal(window, priority);
        if (local > TimeSpan.Zero || shared is null)
            return local;
        var wait = await TakeSharedAsync(portalId, window, priority, cancellationToken);
        if (wait > TimeSpan.Zero)
            Unreserve(window);
        return wait;
    }

    /// <summary>The instance's own window, as <see cref="ReserveAsync"/> but without the shared budget (tests, and the instance mode).</summary>
    public TimeSpan Reserve(long portalId, CallPriority priority = CallPriority.Played) =>
        ReserveLocal(_portals.GetOrAdd(portalId, _ => new PortalWindow()), priority);

    /// <summary>No call for the portal before <paramref name="duration"/> has passed: here at once, and for every instance through the bucket.</summary>
    public async ValueTask PauseAsync(long portalId, TimeSpan duration, CancellationToken cancellationToken)
    {
        var window = _portals.GetOrAdd(portalId, _ => new PortalWindow());
        var until = time.GetUtcNow() + duration;
        lock (window)
        {
            if (until > window.PausedUntil)
                window.PausedUntil = until;
            window.Slice = 0;
        }

        if (shared is not null)
            await IndebtAsync(portalId, window, duration, cancellationToken);
    }

    private TimeSpan ReserveLocal(PortalWindow window, CallPriority priority)
    {
        var now = time.GetUtcNow();
        lock (window)
        {
            if (window.PausedUntil > now)
                return window.PausedUntil - now;
            while (window.Sent.Count > 0 && now - window.Sent.Peek() >= Window)
                window.Sent.Dequeue();
            var limit = priority == CallPriority.LookUp
                ? Math.Max(1, options.Value.RequestsPerTenSeconds / 2)
                : options.Value.RequestsPerTenSeconds - (int)Math.Ceiling(Floor(priority));
            if (window.Sent.Count >= limit)
                return Refused(window, priority, now, window.Sent.ElementAt(window.Sent.Count - limit) + Window - now);
            window.Sent.Enqueue(now);
            return TimeSpan.Zero;
        }
    }

    private static void Unreserve(PortalWindow window)
    {
        lock (window)
        {
            // Gives one reservation back (the newest, this call's unless another came meanwhile: either way one slot).
            if (window.Sent.Count > 0)
            {
                var kept = window.Sent.Take(window.Sent.Count - 1).ToList();
                window.Sent.Clear();
                foreach (var sent in kept)
                    window.Sent.Enqueue(sent);
            }
        }
    }

    private double Rate => options.Value.RequestsPerTenSeconds / Window.TotalSeconds;

    private double Capacity => Math.Max(1, options.Value.RequestsPerTenSeconds / 10.0);

    /// <summary>The share of the bucket above which a call of this priority may take from it (of all but one token).</summary>
    private static double FloorShare(CallPriority priority) => priority switch
    {
        CallPriority.Played => 0,
        CallPriority.AttentionSpan => 0.3,
        CallPriority.LookUp => 0.5,
        _ => 0.6,
    };

    private double Floor(CallPriority priority) => FloorShare(priority) * (Capacity - 1);

    /// <summary>
    /// A call below played events that finds the bucket under its floor while this instance's played events wait too
    /// waits at least this long: they take the budget, and its session need not come back from the queue every few
    /// seconds to find that again.
    /// </summary>
    private static readonly TimeSpan OutrankedWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The wait of a call refused for now: until a token comes, or <see cref="OutrankedWait"/> for a call below played
    /// events while this instance's played events wait too. A played event's refusal is noted for the others.
    /// </summary>
    private static TimeSpan Refused(PortalWindow window, CallPriority priority, DateTimeOffset now, TimeSpan untilToken)
    {
        if (priority == CallPriority.Played)
        {
            window.PlayedWaitedAt = now;
            return untilToken;
        }

        return untilToken < OutrankedWait && now - window.PlayedWaitedAt < OutrankedWait ? OutrankedWait : untilToken;
    }

    private async ValueTask<TimeSpan> TakeSharedAsync(long portalId, PortalWindow window, CallPriority priority, CancellationToken cancellationToken)
    {
        // A slice is a quarter of a second's tokens already taken: any event call of this instance may use it.
        if (priority != CallPriority.LookUp && TakeFromSlice(window))
            return TimeSpan.Zero;
        await window.Turn.WaitAsync(cancellationToken);
        try
        {
            // Another call of this instance may have taken a slice while this one waited its turn.
            if (priority != CallPriority.LookUp && TakeFromSlice(window))
                return TimeSpan.Zero;
            for (var attempt = 0; attempt < 10; attempt++)
            {
                var now = time.GetUtcNow();
                var read = window.Known ??= await shared!.GetBudgetAsync(portalId, cancellationToken);
                var level = read is null ? Capacity : Math.Min(Capacity, read.Tokens + Math.Max(0, (now - read.At).TotalSeconds) * Rate);
                var floor = Floor(priority);
                if (level - floor < 1)
                {
                    return Refused(window, priority, now, TimeSpan.FromSeconds(Math.Max(0.05, (1 + floor - level) / Rate)));
                }

                var take = priority == CallPriority.LookUp ? 1 : (int)Math.Min(options.Value.BudgetSlice, Math.Floor(level - floor));
                if (await shared!.TryWriteBudgetAsync(portalId, level - take, now, read, cancellationToken) is { } etag)
                {
                    window.Known = new BudgetRow(level - take, now, etag);
                    lock (window)
                        (window.Slice, window.SliceUntil) = (take - 1, now + SliceLife);
                    return TimeSpan.Zero;
                }

                // Another instance took from the bucket since it was read: read it again.
                window.Known = null;
            }

            return TimeSpan.FromMilliseconds(100);
        }
        catch (Exception ex) when (StorageClients.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            // Storage out of reach: pace by this instance's window alone rather than stop sending.
            WarnStorageTrouble(portalId, ex);
            window.Known = null;
            return TimeSpan.Zero;
        }
        finally
        {
            window.Turn.Release();
        }
    }

    private bool TakeFromSlice(PortalWindow window)
    {
        lock (window)
        {
            if (window.Slice <= 0 || window.SliceUntil <= time.GetUtcNow())
                return false;
            window.Slice--;
            return true;
        }
    }

    /// <summary>Puts the bucket <paramref name="duration"/>'s worth of tokens in debt, unless it is deeper already.</summary>
    private async ValueTask IndebtAsync(long portalId, PortalWindow window, TimeSpan duration, CancellationToken cancellationToken)
    {
        await window.Turn.WaitAsync(cancellationToken);
        try
        {
            for (var attempt = 0; attempt < 5; attempt++)
            {
                var now = time.GetUtcNow();
                var read = window.Known ??= await shared!.GetBudgetAsync(portalId, cancellationToken);
                var level = read is null ? Capacity : Math.Min(Capacity, read.Tokens + Math.Max(0, (now - read.At).TotalSeconds) * Rate);
                var debt = -duration.TotalSeconds * Rate;
                if (level <= debt)
                    return;
                if (await shared!.TryWriteBudgetAsync(portalId, debt, now, read, cancellationToken) is { } etag)
                {
                    window.Known = new BudgetRow(debt, now, etag);
                    return;
                }

                window.Known = null;
            }
        }
        catch (Exception ex) when (StorageClients.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            WarnStorageTrouble(portalId, ex);
            window.Known = null;
        }
        finally
        {
            window.Turn.Release();
        }
    }

    private void WarnStorageTrouble(long portalId, Exception ex)
    {
        var now = time.GetUtcNow();
        if (now - _lastStorageWarning < StorageTroubleWarningEvery)
            return;
        _lastStorageWarning = now;
        _logger.LogWarning(ex, "The shared HubSpot budget of portal {PortalId} could not be read or written; this instance paces itself alone meanwhile", portalId);
    }

    private sealed class PortalWindow
    {
        public Queue<DateTimeOffset> Sent { get; } = new();

        public DateTimeOffset PausedUntil { get; set; }

        /// <summary>When a played event of this instance last found the bucket empty.</summary>
        public DateTimeOffset PlayedWaitedAt { get; set; }

        /// <summary>Tokens this instance took from the shared bucket and has not used yet, until <see cref="SliceUntil"/>.</summary>
        public int Slice { get; set; }

        public DateTimeOffset SliceUntil { get; set; }

        /// <summary>The bucket as this instance last read or wrote it: written over without a read while nobody else wrote it.</summary>
        public BudgetRow? Known { get; set; }

        /// <summary>One table call per portal at a time in this instance; the others wait and take from its slice.</summary>
        public SemaphoreSlim Turn { get; } = new(1, 1);
    }
}
