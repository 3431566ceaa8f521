using System.Collections.Concurrent;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>
/// What a call to HubSpot is for, most valuable first: a played event (and the media objects events need), an attention
/// span, a quartile, a look-up, and last a look-up for a client address that brought more viewers who are no contact
/// than an address may (<see cref="RelayOptions.MaxUnknownViewersPerSourcePerHour"/>). When a portal's calls outrun its
/// budget the more valuable ones take it.
/// </summary>
public enum CallPriority
{
    Played,

    /// <summary>
    /// The look-up a session's played event waits for (its viewer is asked about first): ranked with played events, and
    /// within the look-ups' half of the pace, as every look-up is.
    /// </summary>
    PlayedLookUp,
    AttentionSpan,
    Quartile,
    LookUp,
    SuspectLookUp,

    /// <summary>A viewer's later sessions of the hour (<c>Relay__ViewerSessionsFirstPerHour</c>): only budget nobody else wants.</summary>
    Surplus,
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
/// takes a token from the portal's bucket in table <c>quotas</c> (<see cref="SharedBucket"/>): it fills at a tenth of
/// the pace per second up to a tenth of the pace (so no 10 s, sliding or fixed, holds more than 1.1 times the pace), and
/// an instance takes a few tokens at a time (<see cref="HubSpotOptions.BudgetSlice"/>) for a quarter of a second, so that
/// one table write serves several calls. A 429 or an exhausted window puts the bucket in debt for its wait, so every
/// instance waits it out.
/// <para>
/// Look-ups (<see cref="CallPriority.LookUp"/>) take at most half of the pace, over every instance: each also takes a
/// token from the portal's look-up bucket (<c>hubspot-lookups</c>), which holds up to 4 tokens and fills at half the
/// pace less as many per 10 s, so that no 10 s window, however the instances' calls fall, holds more look-ups than half
/// the pace; a suspect look-up takes only from a full one. Below played events each priority takes from the budget only
/// while it holds more than a floor (<see cref="FloorShare"/>): while played events keep it drained, attention spans,
/// look-ups and quartiles wait, and as soon as they do not, the others take every token that comes; tokens a call took
/// for later calls (a slice) serve those ranked below it only where the bucket would have served them too. A refused call's wait is spread by up to a fifth, so
/// that waits that began together do not all come back at once; with storage out of reach no call goes unpaced.
/// </para>
/// </summary>
public sealed class HubSpotPacer
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long tokens taken from the bucket may wait to be used: a slice used later than its tokens were counted moves
    /// calls into the next window, so it is kept short (n instances may each carry a slice over).
    /// </summary>
    private static readonly TimeSpan SliceLife = TimeSpan.FromMilliseconds(250);

    private static readonly TimeSpan StorageTroubleWarningEvery = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a call waits when the shared budget cannot be read or written: no instance knows what the others send
    /// then, and each sending at the whole pace alone would be n times HubSpot's limit; the session's own saves need the
    /// same storage, so waiting costs nothing that sending would have gained.
    /// </summary>
    private static readonly TimeSpan StorageTroubleWait = TimeSpan.FromSeconds(2);

    private readonly IOptions<HubSpotOptions> _options;
    private readonly TimeProvider _time;
    private readonly SharedBucket? _budget;
    private readonly SharedBucket? _lookUps;
    private readonly ConcurrentDictionary<long, PortalWindow> _portals = new();
    private readonly ILogger _logger;
    private DateTimeOffset _lastStorageWarning;

    public HubSpotPacer(IOptions<HubSpotOptions> options, TimeProvider time, QuotaStore? shared = null, ILogger<HubSpotPacer>? logger = null)
    {
        (_options, _time) = (options, time);
        _logger = logger ?? NullLogger<HubSpotPacer>.Instance;
        if (shared is not null)
        {
            _budget = new SharedBucket(shared, "hubspot-budget", () => Rate, () => Capacity, time);
            _lookUps = new SharedBucket(shared, "hubspot-lookups", () => LookUpRate, () => LookUpCapacity, time);
        }
    }

    /// <summary>Reserves a call for the portal: zero to go now, else how long to wait before asking again.</summary>
    public async ValueTask<TimeSpan> ReserveAsync(long portalId, CallPriority priority, CancellationToken cancellationToken)
    {
        var window = _portals.GetOrAdd(portalId, _ => new PortalWindow());
        var local = ReserveLocal(window, priority);
        if (local > TimeSpan.Zero || _budget is null)
        {
            NoteDecision(portalId, priority, "instance window", local, 0);
            return Spread(local);
        }

        var started = _time.GetTimestamp();
        var (wait, reason) = await TakeSharedAsync(portalId, window, priority, cancellationToken);
        if (wait > TimeSpan.Zero)
            Unreserve(window);
        NoteDecision(portalId, priority, reason, wait, _time.GetElapsedTime(started).TotalMilliseconds);
        return Spread(wait);
    }

    /// <summary>The instance's own window, as <see cref="ReserveAsync"/> but without the shared budget (tests, and the instance mode).</summary>
    public TimeSpan Reserve(long portalId, CallPriority priority = CallPriority.Played) =>
        ReserveLocal(_portals.GetOrAdd(portalId, _ => new PortalWindow()), priority);

    /// <summary>No call for the portal before <paramref name="duration"/> has passed: here at once, and for every instance through the bucket.</summary>
    public async ValueTask PauseAsync(long portalId, TimeSpan duration, CancellationToken cancellationToken)
    {
        var window = _portals.GetOrAdd(portalId, _ => new PortalWindow());
        var until = _time.GetUtcNow() + duration;
        lock (window)
        {
            if (until > window.PausedUntil)
                window.PausedUntil = until;
            window.Slice = 0;
        }

        if (_budget is null)
            return;
        try
        {
            await _budget.IndebtAsync(portalId, duration, cancellationToken);
        }
        catch (Exception ex) when (StorageClients.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            WarnStorageTrouble(portalId, ex);
        }
    }

    private TimeSpan ReserveLocal(PortalWindow window, CallPriority priority)
    {
        var now = _time.GetUtcNow();
        lock (window)
        {
            if (window.PausedUntil > now)
                return window.PausedUntil - now;
            while (window.Sent.Count > 0 && now - window.Sent.Peek() >= Window)
                window.Sent.Dequeue();
            var limit = IsLookUp(priority)
                ? Math.Max(1, _options.Value.RequestsPerTenSeconds / 2)
                : _options.Value.RequestsPerTenSeconds - (int)Math.Ceiling(Floor(priority));
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

    private double Rate => _options.Value.RequestsPerTenSeconds / Window.TotalSeconds;

    private double Capacity => Math.Max(1, _options.Value.RequestsPerTenSeconds / 10.0);

    /// <summary>Half the pace less one per 10 s, with one token held: at most half the pace in any 10 s.</summary>
    private double LookUpRate => Math.Max(1, (_options.Value.RequestsPerTenSeconds / 2) - LookUpCapacity) / Window.TotalSeconds;

    /// <summary>
    /// The look-ups' bucket holds a few tokens (4 at the default pace), its rate less as many per 10 s: still no 10 s
    /// window holds more look-ups than half the pace, and a suspect look-up takes only from a full bucket, so that on
    /// every instance a real viewer's look-up finds the tokens first.
    /// </summary>
    private double LookUpCapacity => Math.Clamp(_options.Value.RequestsPerTenSeconds / 20, 1, 4);

    /// <summary>
    /// What a look-up leaves in the look-ups' bucket for those ranked above it: a suspect one all but its last token, a
    /// plain one the last (the played events' look-ups).
    /// </summary>
    private double LookUpFloor(CallPriority priority) => priority switch
    {
        CallPriority.SuspectLookUp => LookUpCapacity - 1,
        CallPriority.LookUp => Math.Min(1, LookUpCapacity - 1),
        _ => 0,
    };

    /// <summary>The share of the bucket above which a call of this priority may take from it (of all but one token).</summary>
    private static double FloorShare(CallPriority priority) => priority switch
    {
        CallPriority.Played or CallPriority.PlayedLookUp => 0,
        CallPriority.AttentionSpan => 0.3,
        CallPriority.LookUp => 0.5,
        CallPriority.SuspectLookUp or CallPriority.Surplus => 0.9,
        _ => 0.6,
    };

    /// <summary>
    /// Whether the call queues behind this instance's other calls at a shared bucket: played events, their look-ups,
    /// attention spans and other look-ups do; quartiles and calls ranked below them ask again later instead, so that a
    /// backlog of them never stands between a played event and the bucket.
    /// </summary>
    private static bool WaitsTurn(CallPriority priority) =>
        priority is CallPriority.Played or CallPriority.PlayedLookUp or CallPriority.AttentionSpan or CallPriority.LookUp;

    private static bool IsLookUp(CallPriority priority) => priority is CallPriority.LookUp or CallPriority.PlayedLookUp or CallPriority.SuspectLookUp;

    private double Floor(CallPriority priority) => FloorShare(priority) * (Capacity - 1);

    /// <summary>
    /// A call below played events that finds the bucket under its floor while this instance's played events wait too
    /// waits at least this long: they take the budget, and its session need not come back from the queue every few
    /// seconds to find that again.
    /// </summary>
    private static readonly TimeSpan OutrankedWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The wait of a call refused for now: until a token comes, or <see cref="OutrankedWait"/> for a call below played
    /// events while this instance's played events wait too (and for a suspect look-up while its other look-ups do). A
    /// played event's or a look-up's refusal is noted for those below it.
    /// </summary>
    private static TimeSpan Refused(PortalWindow window, CallPriority priority, DateTimeOffset now, TimeSpan untilToken)
    {
        if (priority is CallPriority.Played or CallPriority.PlayedLookUp)
        {
            window.PlayedWaitedAt = now;
            if (priority == CallPriority.PlayedLookUp)
                window.LookUpWaitedAt = now;
            return untilToken;
        }

        if (priority == CallPriority.LookUp)
            window.LookUpWaitedAt = now;
        return untilToken < OutrankedWait && Outranked(window, priority, now) ? OutrankedWait : untilToken;
    }

    private static bool Outranked(PortalWindow window, CallPriority priority, DateTimeOffset now) =>
        now - window.PlayedWaitedAt < OutrankedWait || (priority is CallPriority.SuspectLookUp or CallPriority.Surplus && now - window.LookUpWaitedAt < OutrankedWait);

    /// <summary>A refused call's wait, made up to a fifth longer at random: waits that began together come back apart.</summary>
    private static TimeSpan Spread(TimeSpan wait) =>
        wait <= TimeSpan.Zero ? wait : wait + (wait * (Random.Shared.NextDouble() * 0.2));

    private async ValueTask<(TimeSpan Wait, string Reason)> TakeSharedAsync(long portalId, PortalWindow window, CallPriority priority, CancellationToken cancellationToken)
    {
        // A slice is a quarter of a second's tokens already taken: any event call of this instance may use it.
        if (!IsLookUp(priority) && TakeFromSlice(portalId, window, priority))
            return (TimeSpan.Zero, "slice");
        try
        {
            if (IsLookUp(priority))
            {
                // A suspect look-up takes the look-ups' token only when the budget would have one for it too: a token it
                // took and could not use would be one a real viewer's look-up waited for.
                if (priority == CallPriority.SuspectLookUp)
                {
                    if (Outranked(window, priority, _time.GetUtcNow()))
                        return (OutrankedWait, "outranked");
                    if (_budget!.LikelyRefused(portalId, Floor(priority)) is { } untilBudget)
                        return (untilBudget, "suspect, budget as last seen");
                }

                var (lookUp, untilLookUp, _) = await _lookUps!.TakeAsync(portalId, 1, LookUpFloor(priority), cancellationToken, waitTurn: WaitsTurn(priority));
                if (lookUp == 0)
                    return (untilLookUp, "look-ups bucket");
            }

            // Another call of this instance may have taken a slice while this one waited its turn.
            if (!IsLookUp(priority) && TakeFromSlice(portalId, window, priority))
                return (TimeSpan.Zero, "slice");
            // A call of low rank that this instance's last look at the bucket says would be refused asks storage nothing.
            if (!WaitsTurn(priority) && _budget!.LikelyRefused(portalId, Floor(priority)) is { } likelyWait)
                return (Refused(window, priority, _time.GetUtcNow(), likelyWait), "budget as last seen");
            var want = IsLookUp(priority) ? 1 : _options.Value.BudgetSlice;
            var (taken, wait, contended) = await _budget!.TakeAsync(portalId, want, Floor(priority), cancellationToken, waitTurn: WaitsTurn(priority));
            if (taken == 0)
                return contended ? (wait, "budget contended") : (Refused(window, priority, _time.GetUtcNow(), wait), "budget");
            lock (window)
                (window.Slice, window.SliceUntil, window.SliceRank) = (taken - 1, _time.GetUtcNow() + SliceLife, priority);
            return (TimeSpan.Zero, "budget taken");
        }
        catch (Exception ex) when (StorageClients.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            WarnStorageTrouble(portalId, ex);
            return (StorageTroubleWait, "budget out of reach");
        }
    }

    /// <summary>
    /// Uses a token of the slice: a call of the rank it was taken for or above, or one of lower rank that the bucket as
    /// last seen would have let take it (else a played event's slice would be a quartile's or a stranger's way past its floor).
    /// </summary>
    private bool TakeFromSlice(long portalId, PortalWindow window, CallPriority priority)
    {
        lock (window)
        {
            if (window.Slice <= 0 || window.SliceUntil <= _time.GetUtcNow())
                return false;
            if (priority > window.SliceRank && _budget!.LikelyRefused(portalId, Floor(priority)) is not null)
                return false;
            window.Slice--;
            return true;
        }
    }

    /// <summary>
    /// Every decision at Debug (<c>Logging__LogLevel__FunctionsRelay.Infrastructure.HubSpot.HubSpotPacer</c>): which rank
    /// waited where, and how long asking took; how issue #35's look-ups were found to hold back played events.
    /// </summary>
    private void NoteDecision(long portalId, CallPriority priority, string reason, TimeSpan wait, double askedMilliseconds)
    {
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            _logger.LogDebug(
                "Pacer: portal {PortalId} {Priority} {Reason}, waits {WaitMilliseconds:F0} ms, asked in {AskedMilliseconds:F0} ms",
                portalId,
                priority,
                reason,
                wait.TotalMilliseconds,
                askedMilliseconds);
        }
    }

    private void WarnStorageTrouble(long portalId, Exception ex)
    {
        var now = _time.GetUtcNow();
        if (now - _lastStorageWarning < StorageTroubleWarningEvery)
            return;
        _lastStorageWarning = now;
        _logger.LogWarning(ex, "The shared HubSpot budget of portal {PortalId} could not be read or written; HubSpot calls wait for it meanwhile", portalId);
    }

    private sealed class PortalWindow
    {
        public Queue<DateTimeOffset> Sent { get; } = new();

        public DateTimeOffset PausedUntil { get; set; }

        /// <summary>When a played event of this instance last found the bucket empty.</summary>
        public DateTimeOffset PlayedWaitedAt { get; set; }

        /// <summary>When a look-up (not a suspect one) of this instance last had to wait.</summary>
        public DateTimeOffset LookUpWaitedAt { get; set; }

        /// <summary>Tokens this instance took from the shared bucket and has not used yet, until <see cref="SliceUntil"/>.</summary>
        public int Slice { get; set; }

        public DateTimeOffset SliceUntil { get; set; }

        /// <summary>The rank of the call that took the slice.</summary>
        public CallPriority SliceRank { get; set; }
    }
}
