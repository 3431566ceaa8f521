using System.Numerics;
using System.Runtime.InteropServices;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.Sessions;

public enum MergeOutcome
{
    Added,
    Duplicate,
    SessionClosed,
    LogFull,
}

public enum CloseReason
{
    End,
    Idle,
}

/// <summary>Why a session's events were never sent to HubSpot.</summary>
public enum SkipReason
{
    NoContact,
    NoMedia,
    NoDuration,
    NeverPlayed,
}

/// <summary>
/// Why a session's events are dropped rather than sent: each is a bound on what a portal's public key lets a stranger
/// spend of its HubSpot budget and its storage.
/// </summary>
public enum SessionRefusal
{
    None,

    /// <summary>Its viewer is no contact and its portal had begun as many holds as it may this hour.</summary>
    HoldBound,

    /// <summary>Its viewer had begun as many sessions as a viewer may this hour.</summary>
    ViewerBound,

    /// <summary>
    /// Its viewer is no contact and the client address it came from had brought as many viewers who are none as one
    /// address may this hour: not held.
    /// </summary>
    SourceBound,

    /// <summary>Its media's object could not be made (the portal's bounds, or its catalog alone makes them) for as long as a session waits for one.</summary>
    MediaBound,
}

/// <summary>A value known in a session, and the log entry it came from: the latest entry's value wins, whatever the arrival order.</summary>
public readonly record struct Stamped<T>(T Value, LogEntry Stamp);

/// <summary>The HubSpot events decided for a session, each at most once.</summary>
[Flags]
public enum DecidedEvents
{
    None = 0,
    Played = 1,
    Quartile0 = 2,
    Quartile25 = 4,
    Quartile50 = 8,
    Quartile75 = 16,
    Quartile100 = 32,
    AttentionSpan = 64,
}

/// <summary>
/// An event decided and waiting to be delivered to HubSpot. <see cref="Payload"/> is the JSON body; <see cref="DueSince"/>
/// (relay clock, ms; 0 if not known) when the relay received the beacon that made it due, or closed the session that did.
/// </summary>
public sealed record PendingEvent(string Key, MediaEventKind Kind, string Payload)
{
    public long DueSince { get; init; }
}

public enum MediaEventKind
{
    Played,
    PlayedPercent,
    AttentionSpan,
}

/// <summary>
/// A viewing session, (portalId, sessionId): its beacons as an ordered log without duplicates, the latest known media,
/// contact and page, which HubSpot events were decided, and those not yet delivered (the outbox).
/// Times that the relay itself measured (<c>...At</c>) are in ms since the epoch of the relay's clock.
/// </summary>
public sealed class ViewingSession(long portalId, string sessionId)
{
    private readonly List<LogEntry> _log = [];
    private readonly List<PendingEvent> _outbox = [];
    private readonly SortedSet<string> _viewerKeys = new(StringComparer.Ordinal);

    // Summaries of the log kept as entries are added (not stored: rebuilt as the log is read back), so that the checks
    // every merge makes are O(1) instead of a pass over the log.
    private int _numbered;
    private long _lowestSeq = long.MaxValue;
    private long _highestSeq = long.MinValue;
    private double _furthestPosition;
    private bool _hasEnd;
    private bool _hasEnded;

    public long PortalId { get; } = portalId;

    public string SessionId { get; } = sessionId;

    public IReadOnlyList<LogEntry> Log => _log;

    /// <summary>The furthest playhead any beacon reported: no watched interval can end beyond it.</summary>
    public double FurthestPosition => _furthestPosition;

    /// <summary>Whether an <c>ended</c> beacon (the media reached its end) is in the log.</summary>
    public bool HasEnded => _hasEnded;

    /// <summary>The log for the scans of every merge: a span reads each entry in place, with no copy and no interface call.</summary>
    public ReadOnlySpan<LogEntry> LogEntries => CollectionsMarshal.AsSpan(_log);

    public Stamped<MediaInfo>? Media { get; set; }

    public Stamped<long>? ContactId { get; set; }

    public Stamped<string>? Utk { get; set; }

    /// <summary>
    /// The viewer's email, as a secret-keyed source named it, kept encrypted (the relay's <c>ViewerEmails</c>) until
    /// HubSpot names its contact (<see cref="ResolvedContactId"/>), then dropped. Personal data, never logged.
    /// </summary>
    public Stamped<string>? Email { get; set; }

    /// <summary>The contact HubSpot found (or made) for the session's email: its events are sent as this contact.</summary>
    public long? ResolvedContactId { get; set; }

    /// <summary>
    /// The stamp of the utk HubSpot answered is a contact: the session's later events are not asked about again, on
    /// whichever instance sends them (each instance's cache of answers is its own). A later beacon naming another utk
    /// has another stamp, and is asked about.
    /// </summary>
    public LogEntry? UtkContactStamp { get; set; }

    /// <summary>Whether HubSpot answered that the session's utk, as it is now, is a contact.</summary>
    public bool UtkIsKnownContact => Utk is { } utk && UtkContactStamp == utk.Stamp;

    /// <summary>
    /// Keyed hashes of every way the session named its viewer or HubSpot named it back (utk, email, contact id): what a
    /// privacy deletion finds the session by, with no readable identifier in the index.
    /// </summary>
    public IReadOnlyCollection<string> ViewerKeys => _viewerKeys;

    /// <summary>Notes a keyed hash of the session's viewer; false if it was noted already.</summary>
    public bool AddViewerKey(string key) => _viewerKeys.Add(key);

    /// <summary>
    /// Takes into this copy what another copy of the session learnt of its viewer while delivering (its hashes, the
    /// contact its email resolved to, that its utk is a contact): a fresh read after a conflict must not lose it. True if this copy changed.
    /// </summary>
    public bool TakeViewerFrom(ViewingSession other)
    {
        var changed = false;
        foreach (var key in other.ViewerKeys)
            changed |= AddViewerKey(key);
        if (other.RepeatViewer && !RepeatViewer)
        {
            RepeatViewer = true;
            changed = true;
        }

        if (other.UtkContactStamp is { } stamp && UtkContactStamp is null)
        {
            UtkContactStamp = stamp;
            changed = true;
        }

        if (other.ResolvedContactId is { } resolved && ResolvedContactId is null)
        {
            ResolvedContactId = resolved;
            changed = true;
        }

        return DropResolvedEmail() || changed;
    }

    /// <summary>
    /// Once HubSpot has named the contact of the session's email (<see cref="ResolvedContactId"/>), the email, its work
    /// done, is dropped: a later beacon naming it again included. True if this copy changed.
    /// </summary>
    public bool DropResolvedEmail()
    {
        if (ResolvedContactId is null || Email is null)
            return false;
        Email = null;
        return true;
    }

    public Stamped<PageInfo>? Page { get; set; }

    public Stamped<PlayContext>? Context { get; set; }

    public Stamped<double>? Duration { get; set; }

    public DecidedEvents Decided { get; set; }

    public IReadOnlyList<PendingEvent> Outbox => _outbox;

    /// <summary>Until when one worker holds the right to deliver the outbox, so that two never send the same event at once.</summary>
    public long DeliveryLeaseUntil { get; set; }

    /// <summary>Which worker holds the delivery lease: only it sends, and it checks before every send that it still does.</summary>
    public string? DeliveryLeaseOwner { get; set; }

    /// <summary>When a delivery check is already queued for (relay clock, ms): a session needs at most one per lease.</summary>
    public long DeliverCheckAt { get; set; }

    public long LastActivityAt { get; set; }

    /// <summary>Since when (relay clock, ms) the session's events have been held for a viewer who is not a HubSpot contact yet; 0: never held.</summary>
    public long AnonymousHeldSince { get; set; }

    /// <summary>Why the session's events are dropped rather than sent; <see cref="SessionRefusal.None"/>: they are not.</summary>
    public SessionRefusal Refused { get; set; }

    /// <summary>Whether the session was counted against its viewer's sessions of the hour (once, before its first event goes).</summary>
    public bool ViewerCounted { get; set; }

    /// <summary>The session is one of its viewer's later sessions of the hour: its HubSpot calls take only budget nobody else wants.</summary>
    public bool RepeatViewer { get; set; }

    /// <summary>
    /// Who brought the session: a keyed hash of the client address of its first request (never the address), or
    /// <c>trusted</c> for a backend's secret-keyed request; null for a session of a build before it was noted.
    /// </summary>
    public string? Source { get; set; }

    /// <summary>Since when (relay clock, ms) its events have waited for a media object the portal may not make now; 0: they have not.</summary>
    public long MediaAwaitedSince { get; set; }

    /// <summary>When (relay clock, ms) a wait for the media object that began now, or at <see cref="MediaAwaitedSince"/>, reaches <paramref name="limit"/>.</summary>
    public long MediaWaitEndsAt(long now, TimeSpan limit) => (MediaAwaitedSince > 0 ? MediaAwaitedSince : now) + (long)limit.TotalMilliseconds;

    /// <summary>When the one close check that counts is due; checks due at other times are stale and dropped.</summary>
    public long CloseCheckAt { get; set; }

    public long? ClosedAt { get; set; }

    public CloseReason? CloseReason { get; set; }

    public SkipReason? SkipReason { get; set; }

    public int DuplicatesDropped { get; set; }

    public int DroppedAfterClose { get; set; }

    public int DroppedLogFull { get; set; }

    /// <summary>How many bytes the session took in storage when it was last read or saved (0: never stored): a session near its store's limit takes no more beacons.</summary>
    public int StoredBytes { get; set; }

    public bool IsClosed => ClosedAt is not null;

    /// <summary>A live stream (its media says so): played events only, as it has no duration for quartiles or spans.</summary>
    public bool IsLive => Media?.Value.Live == true && Duration is null;

    /// <summary>The contact HubSpot will link events to: a known contact id wins over a utk.</summary>
    public bool HasContact => ContactId is not null || Utk is not null || Email is not null;

    /// <summary>Adds a beacon to the log, keeping it ordered and free of duplicates, and updates the latest known values.</summary>
    public MergeOutcome Merge(Beacon beacon, long receivedAt, int maxLogEntries)
    {
        // A beacon sent again (a retried message) is a duplicate even after the close: only new ones are dropped by it.
        var entry = LogEntry.Of(beacon);
        var index = _log.BinarySearch(entry);
        if (index >= 0 || IsDuplicate(entry, ~index))
        {
            DuplicatesDropped++;
            return MergeOutcome.Duplicate;
        }

        if (IsClosed)
        {
            DroppedAfterClose++;
            return MergeOutcome.SessionClosed;
        }

        if (_log.Count >= maxLogEntries)
        {
            DroppedLogFull++;
            return MergeOutcome.LogFull;
        }

        _log.Insert(~index, entry);
        Track(entry);
        LastActivityAt = Math.Max(LastActivityAt, receivedAt);
        Remember(beacon, entry);
        return MergeOutcome.Added;
    }

    /// <summary>
    /// Restores a log entry read back from storage. Entries come in log order, except a seek's start stored after its end
    /// by an older order of ties, which goes back in front of it.
    /// </summary>
    public void Restore(LogEntry entry)
    {
        var index = _log.Count;
        while (index > 0 && _log[index - 1].CompareTo(entry) > 0)
            index--;
        _log.Insert(index, entry);
        Track(entry);
    }

    /// <summary>Makes room for the stored log and the beacons of the next message at once, so merging them copies nothing.</summary>
    public void ReserveLog(int entries) => _log.EnsureCapacity(entries);

    public void Enqueue(PendingEvent pending) => _outbox.Add(pending);

    /// <summary>
    /// Moves the session's pending attention span in front of its pending quartiles, which a portal behind its budget sends
    /// last. False when there is none, or it is first already.
    /// </summary>
    public bool PutAttentionSpanFirst()
    {
        var index = _outbox.FindIndex(pending => pending.Kind == MediaEventKind.AttentionSpan);
        if (index <= 0)
            return false;
        var attentionSpan = _outbox[index];
        _outbox.RemoveAt(index);
        _outbox.Insert(0, attentionSpan);
        return true;
    }

    /// <summary>
    /// Keeps only the highest pending quartile when every quartile decided is still pending, there are several, and the
    /// oldest has waited since before <paramref name="dueBefore"/>. Returns those taken out (they stay decided: never sent).
    /// </summary>
    public List<PendingEvent> CoalesceQuartiles(long dueBefore)
    {
        var quartiles = _outbox.Where(pending => pending.Kind == MediaEventKind.PlayedPercent).ToList();
        var decidedQuartiles = BitOperations.PopCount((uint)(Decided & AllQuartiles));
        if (quartiles.Count < 2 || quartiles.Count != decidedQuartiles || quartiles.Min(pending => pending.DueSince) >= dueBefore)
            return [];
        var highest = quartiles.MaxBy(pending => EventPlanner.FlagOf(pending.Key))!;
        quartiles.Remove(highest);
        _outbox.RemoveAll(quartiles.Contains);
        return quartiles;
    }

    private const DecidedEvents AllQuartiles =
        DecidedEvents.Quartile0 | DecidedEvents.Quartile25 | DecidedEvents.Quartile50 | DecidedEvents.Quartile75 | DecidedEvents.Quartile100;

    public bool MarkDelivered(string key) => _outbox.RemoveAll(pending => pending.Key == key) > 0;

    /// <summary>Notes when the events just decided became due, for the delivery latency.</summary>
    public void MarkDue(IReadOnlyList<PendingEvent> decided, long dueSince)
    {
        for (var i = 0; i < _outbox.Count; i++)
        {
            if (_outbox[i].DueSince == 0 && decided.Any(pending => pending.Key == _outbox[i].Key))
                _outbox[i] = _outbox[i] with { DueSince = dueSince };
        }
    }

    public void Close(CloseReason reason, long now)
    {
        ClosedAt ??= now;
        CloseReason ??= reason;
    }

    /// <summary>
    /// Seq numbers up to this one count as arrived though some are missing: decisions waited the reorder window for them.
    /// </summary>
    public long? SettledThroughSeq { get; set; }

    /// <summary>Since when (relay clock, ms) decisions have waited for a missing seq number; 0 while none is missing.</summary>
    public long GapWaitSince { get; set; }

    /// <summary>
    /// How many entries at the head of the log can no longer be joined by an earlier beacon. Where beacons carry seq numbers
    /// (counting from 0), that is up to the first one still missing; without seq numbers, the whole log.
    /// </summary>
    public int SettledCount() => CountThroughContiguousSeqAbove(-1);

    /// <summary>
    /// How many entries at the head of the log live events are decided from: the settled ones, and past a seq number that
    /// was waited for longer than the reorder window (<see cref="SettleWhatArrived"/>), what arrived.
    /// </summary>
    public int DecidableCount() => CountThroughContiguousSeqAbove(SettledThroughSeq ?? -1);

    /// <summary>Decisions stop waiting for the seq numbers missing so far: everything numbered that arrived counts as settled.</summary>
    public void SettleWhatArrived()
    {
        if (_numbered > 0)
            SettledThroughSeq = Math.Max(SettledThroughSeq ?? -1, _highestSeq);
        GapWaitSince = 0;
    }

    /// <summary>The entries up to the first seq number above <paramref name="watermark"/> whose predecessor is missing.</summary>
    private int CountThroughContiguousSeqAbove(long watermark)
    {
        if (_numbered == 0 || watermark >= _highestSeq)
            return _log.Count;
        if (_lowestSeq > watermark + 1)
            return FirstIndexWithSeqAbove(watermark);
        if (SeqsContiguous && _lowestSeq <= watermark + 1)
            return _log.Count;

        var seqs = new List<long>(_numbered);
        foreach (ref readonly var entry in LogEntries)
        {
            if (entry.Seq is { } seq && seq > watermark)
                seqs.Add(seq);
        }

        seqs.Sort();
        var contiguousThrough = watermark;
        foreach (var seq in seqs)
        {
            if (seq != contiguousThrough + 1)
                break;
            contiguousThrough = seq;
        }

        return FirstIndexWithSeqAbove(contiguousThrough);
    }

    /// <summary>Whether an <c>end</c> beacon is in the log, and whether nothing can still arrive before it.</summary>
    public (bool Seen, bool Settled) EndBeacon()
    {
        if (!_hasEnd)
            return (false, false);
        var index = _log.FindIndex(entry => entry.Event == BeaconEvent.End);
        return index < 0 ? (false, false) : (true, index < SettledCount());
    }

    private int FirstIndexWithSeqAbove(long seq)
    {
        var index = _log.FindIndex(entry => entry.Seq > seq);
        return index < 0 ? _log.Count : index;
    }

    /// <summary>Seq numbers are unique in the log, so they are contiguous exactly when their count spans their range.</summary>
    private bool SeqsContiguous => _numbered > 0 && _highestSeq - _lowestSeq + 1 == _numbered;

    private void Track(in LogEntry entry)
    {
        if (entry.Seq is { } seq)
        {
            _numbered++;
            _lowestSeq = Math.Min(_lowestSeq, seq);
            _highestSeq = Math.Max(_highestSeq, seq);
        }

        _furthestPosition = Math.Max(_furthestPosition, Math.Max(entry.Position ?? 0, entry.From ?? 0));
        _hasEnd |= entry.Event == BeaconEvent.End;
        _hasEnded |= entry.Event == BeaconEvent.Ended;
    }

    private bool IsDuplicate(LogEntry entry, int insertAt)
    {
        if (entry.Seq is { } seq && seq >= _lowestSeq && seq <= _highestSeq)
        {
            if (SeqsContiguous)
                return true;
            foreach (ref readonly var existing in LogEntries)
            {
                if (existing.Seq == seq)
                    return true;
            }
        }

        // Entries with the same ts sit next to each other, so the same event at the same time and position is a neighbour.
        for (var i = insertAt - 1; i >= 0 && _log[i].Ts == entry.Ts; i--)
        {
            if (entry.IsDuplicateOf(_log[i]))
                return true;
        }

        for (var i = insertAt; i < _log.Count && _log[i].Ts == entry.Ts; i++)
        {
            if (entry.IsDuplicateOf(_log[i]))
                return true;
        }

        return false;
    }

    private void Remember(Beacon beacon, LogEntry entry)
    {
        if (beacon.Media is { } media)
            Media = Latest(Media, media, entry);
        if (beacon.Contact?.ContactId is { } contactId)
            ContactId = Latest(ContactId, contactId, entry);
        if (beacon.Contact?.Utk is { } utk)
            Utk = Latest(Utk, utk, entry);
        if (beacon.Contact?.Email is { } email)
            Email = Latest(Email, email, entry);
        if (beacon.Page is { } page)
            Page = Latest(Page, page, entry);
        if (beacon.Context is { } context)
            Context = Latest(Context, context, entry);
        if (beacon.Duration is { } duration)
            Duration = Latest(Duration, duration, entry);
    }

    private static Stamped<T> Latest<T>(Stamped<T>? current, T value, LogEntry entry) =>
        current is { } known && known.Stamp > entry ? known : new Stamped<T>(value, entry);
}
