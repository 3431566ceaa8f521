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

/// <summary>An event decided and waiting to be delivered to HubSpot. <see cref="Payload"/> is the JSON body.</summary>
public sealed record PendingEvent(string Key, MediaEventKind Kind, string Payload);

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

    public long PortalId { get; } = portalId;

    public string SessionId { get; } = sessionId;

    public IReadOnlyList<LogEntry> Log => _log;

    public Stamped<MediaInfo>? Media { get; set; }

    public Stamped<long>? ContactId { get; set; }

    public Stamped<string>? Utk { get; set; }

    public Stamped<PageInfo>? Page { get; set; }

    public Stamped<PlayContext>? Context { get; set; }

    public Stamped<double>? Duration { get; set; }

    public DecidedEvents Decided { get; set; }

    public IReadOnlyList<PendingEvent> Outbox => _outbox;

    /// <summary>Until when one worker holds the right to deliver the outbox, so that two never send the same event at once.</summary>
    public long DeliveryLeaseUntil { get; set; }

    public long LastActivityAt { get; set; }

    /// <summary>When the one close check that counts is due; checks due at other times are stale and dropped.</summary>
    public long CloseCheckAt { get; set; }

    public long? ClosedAt { get; set; }

    public CloseReason? CloseReason { get; set; }

    public SkipReason? SkipReason { get; set; }

    public int DuplicatesDropped { get; set; }

    public int DroppedAfterClose { get; set; }

    public int DroppedLogFull { get; set; }

    public bool IsClosed => ClosedAt is not null;

    /// <summary>The contact HubSpot will link events to: a known contact id wins over a utk.</summary>
    public bool HasContact => ContactId is not null || Utk is not null;

    /// <summary>Adds a beacon to the log, keeping it ordered and free of duplicates, and updates the latest known values.</summary>
    public MergeOutcome Merge(Beacon beacon, long receivedAt, int maxLogEntries)
    {
        if (IsClosed)
        {
            DroppedAfterClose++;
            return MergeOutcome.SessionClosed;
        }

        var entry = LogEntry.Of(beacon);
        var index = _log.BinarySearch(entry);
        if (index >= 0 || IsDuplicate(entry, ~index))
        {
            DuplicatesDropped++;
            return MergeOutcome.Duplicate;
        }

        if (_log.Count >= maxLogEntries)
        {
            DroppedLogFull++;
            return MergeOutcome.LogFull;
        }

        _log.Insert(~index, entry);
        LastActivityAt = Math.Max(LastActivityAt, receivedAt);
        Remember(beacon, entry);
        return MergeOutcome.Added;
    }

    /// <summary>Restores a log entry read back from storage; entries must come in log order.</summary>
    public void Restore(LogEntry entry) => _log.Add(entry);

    public void Enqueue(PendingEvent pending) => _outbox.Add(pending);

    public bool MarkDelivered(string key) => _outbox.RemoveAll(pending => pending.Key == key) > 0;

    public void Close(CloseReason reason, long now)
    {
        ClosedAt ??= now;
        CloseReason ??= reason;
    }

    /// <summary>
    /// How many entries at the head of the log can no longer be joined by an earlier beacon. Where beacons carry seq numbers
    /// (counting from 0), that is up to the first one still missing; without seq numbers, the whole log.
    /// Live events are decided from this part only, so that late beacons never contradict an event already sent.
    /// </summary>
    public int SettledCount()
    {
        long? lowest = null;
        long highest = long.MinValue;
        var numbered = 0;
        foreach (var entry in _log)
        {
            if (entry.Seq is not { } seq)
                continue;
            numbered++;
            lowest = lowest is null ? seq : Math.Min(lowest.Value, seq);
            highest = Math.Max(highest, seq);
        }

        if (lowest is null)
            return _log.Count;
        if (lowest > 0)
            return FirstIndexWithSeqAbove(-1);
        if (highest - lowest.Value + 1 == numbered)
            return _log.Count;

        var seqs = new long[numbered];
        var next = 0;
        foreach (var entry in _log)
        {
            if (entry.Seq is { } seq)
                seqs[next++] = seq;
        }

        Array.Sort(seqs);
        var contiguousThrough = seqs[0];
        for (var i = 1; i < seqs.Length && seqs[i] == contiguousThrough + 1; i++)
            contiguousThrough = seqs[i];
        return FirstIndexWithSeqAbove(contiguousThrough);
    }

    /// <summary>Whether an <c>end</c> beacon is in the log, and whether nothing can still arrive before it.</summary>
    public (bool Seen, bool Settled) EndBeacon()
    {
        var index = _log.FindIndex(entry => entry.Event == BeaconEvent.End);
        return index < 0 ? (false, false) : (true, index < SettledCount());
    }

    private int FirstIndexWithSeqAbove(long seq)
    {
        var index = _log.FindIndex(entry => entry.Seq > seq);
        return index < 0 ? _log.Count : index;
    }

    private bool IsDuplicate(LogEntry entry, int insertAt)
    {
        if (entry.Seq is not null)
        {
            foreach (var existing in _log)
            {
                if (existing.Seq == entry.Seq)
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
