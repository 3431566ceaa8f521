using System.Text.Json.Serialization;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.Sessions;

/// <summary>
/// One beacon as a session's log keeps it: what it says about playback. Positions are rounded to whole
/// milliseconds so that the log survives storage unchanged. Ordered by ts, then seq (none first), then what the event means
/// (a seek starts before it ends), then position, which is a total order on a log without duplicates.
/// </summary>
public readonly record struct LogEntry(long Ts, long? Seq, BeaconEvent Event, double? Position, double? From) : IComparable<LogEntry>
{
    public static LogEntry Of(Beacon beacon) =>
        new(beacon.Ts, beacon.Seq, beacon.Event, ToMilliseconds(beacon.Position), ToMilliseconds(beacon.From));

    /// <summary>Same seq, or the same event at the same time and position: a resend of a beacon already in the log.</summary>
    public bool IsDuplicateOf(LogEntry other) =>
        (Seq is not null && Seq == other.Seq) || (Event == other.Event && Ts == other.Ts && Position == other.Position);

    /// <summary>Where the playhead was when the player emitted this beacon, before any jump it reports.</summary>
    [JsonIgnore]
    public double? PositionBefore => Event == BeaconEvent.Seek && From is not null ? From : Position;

    public int CompareTo(LogEntry other)
    {
        var byTs = Ts.CompareTo(other.Ts);
        if (byTs != 0)
            return byTs;
        var bySeq = Nullable.Compare(Seq, other.Seq);
        if (bySeq != 0)
            return bySeq;
        var byEvent = TieRank(Event).CompareTo(TieRank(other.Event));
        return byEvent != 0 ? byEvent : Nullable.Compare(Position, other.Position);
    }

    public static bool operator <(LogEntry left, LogEntry right) => left.CompareTo(right) < 0;

    public static bool operator >(LogEntry left, LogEntry right) => left.CompareTo(right) > 0;

    public static bool operator <=(LogEntry left, LogEntry right) => left.CompareTo(right) <= 0;

    public static bool operator >=(LogEntry left, LogEntry right) => left.CompareTo(right) >= 0;

    /// <summary>
    /// The order of events in the same millisecond: the enum's, except that a seek's start comes just before the seek's
    /// end (the enum keeps <see cref="BeaconEvent.SeekStart"/> last only for the values already stored).
    /// </summary>
    private static int TieRank(BeaconEvent beaconEvent) =>
        beaconEvent == BeaconEvent.SeekStart ? (2 * (int)BeaconEvent.Seek) - 1 : 2 * (int)beaconEvent;

    private static double? ToMilliseconds(double? seconds) => seconds is { } value ? Math.Round(value * 1000) / 1000 : null;
}
