using System.Globalization;
using System.Text;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.Sessions;

/// <summary>A stretch of media watched between two beacons: from position <see cref="Start"/> to <see cref="End"/>, seconds.</summary>
public readonly record struct WatchedInterval(double Start, double End, long StartTs, long EndTs)
{
    public double Length => End - Start;
}

/// <summary>Watched intervals that join up: one continuous viewing of <c>[Start, End)</c>.</summary>
public readonly record struct Pass(double Start, double End)
{
    public double Length => End - Start;
}

/// <summary>How quartile events are decided.</summary>
public enum QuartileRule
{
    /// <summary>By the share of the media consumed (spans watched at least once), the measure of <c>totalPercentPlayed</c>.</summary>
    Consumed,

    /// <summary>By the furthest playhead a watched interval reached (Brightcove-style milestones): a seek ahead counts.</summary>
    Playhead,
}

/// <summary>A quartile reached, and the client time of the beacon that showed it.</summary>
public readonly record struct QuartileReach(int Percent, long Ts);

/// <summary>
/// The attention-span map: how many passes covered each span of the media. <see cref="TotalPercentPlayed"/> is the share of
/// spans watched at least once, from 0 to 1 (HubSpot's own formula for it; docs/hubspot.md says why not 0 to 100).
/// </summary>
public sealed record AttentionSpan(int[] Counts, double TotalPercentPlayed, int TotalSecondsPlayed)
{
    /// <summary>HubSpot's <c>rawDataString</c>: <c>0=2;1=2;2=1;...;</c>.</summary>
    public string RawDataString
    {
        get
        {
            var text = new StringBuilder(Counts.Length * 5);
            for (var i = 0; i < Counts.Length; i++)
                text.Append(CultureInfo.InvariantCulture, $"{i}={Counts[i]};");
            return text.ToString();
        }
    }
}

/// <summary>What an ordered log says was watched. Pure: the same log always gives the same figures.</summary>
public static class Playback
{
    /// <summary>How far one interval may start from where the last ended and still continue the same pass, seconds.</summary>
    public const double JoinTolerance = 0.25;

    /// <summary>An interval may cover at most this many times the wall-clock time between its beacons (fast playback)...</summary>
    public const double MaxPlaybackRate = 4;

    /// <summary>... plus this much slack, seconds, for clocks and rounding.</summary>
    public const double PlaybackSlack = 2;

    /// <summary>The watched intervals of a log: from each beacon after which the player was playing to the next beacon.</summary>
    public static List<WatchedInterval> Intervals(ReadOnlySpan<LogEntry> log)
    {
        var intervals = new List<WatchedInterval>();
        foreach (var interval in new IntervalScan(log))
            intervals.Add(interval);
        return intervals;
    }

    public static List<Pass> Passes(IReadOnlyList<WatchedInterval> intervals)
    {
        var passes = new List<Pass>();
        foreach (var interval in intervals)
        {
            if (passes.Count > 0 && Continues(passes[^1], interval))
                passes[^1] = passes[^1] with { End = Math.Max(passes[^1].End, interval.End) };
            else
                passes.Add(new Pass(interval.Start, interval.End));
        }

        return passes;
    }

    /// <summary>
    /// Cuts the media into N = min(ceil(duration), maxSpans) spans; a pass counts once for each span it covers by at least
    /// half of that span's length.
    /// </summary>
    public static AttentionSpan AttentionSpan(IReadOnlyList<Pass> passes, double duration, int maxSpans)
    {
        var grid = new SpanGrid(duration, maxSpans);
        var counts = new int[grid.Count];
        double secondsPlayed = 0;
        foreach (var pass in passes)
        {
            secondsPlayed += pass.Length;
            var (first, last) = grid.SpansTouched(pass.Start, pass.End);
            for (var span = first; span <= last; span++)
            {
                if (grid.Covers(pass, span))
                    counts[span]++;
            }
        }

        var watchedSpans = counts.Count(count => count > 0);
        return new AttentionSpan(
            counts,
            Math.Round((double)watchedSpans / grid.Count, 4),
            (int)Math.Round(secondsPlayed, MidpointRounding.AwayFromZero));
    }

    /// <summary>
    /// The quartiles a log reached, in the order they happened, by <paramref name="rule"/>: 0 at the first play, then
    /// 25, 50, 75 and 100 when the share of the media consumed (<see cref="QuartileRule.Consumed"/>) or the playhead
    /// (<see cref="QuartileRule.Playhead"/>) first reaches them. No quartile is dated before the first play.
    /// </summary>
    public static List<QuartileReach> Quartiles(ReadOnlySpan<LogEntry> log, double duration, QuartileRule rule, int maxSpans)
    {
        if (FirstPlay(log) is not { } playedAt)
            return [];
        var reached = rule == QuartileRule.Consumed ? ConsumedQuartiles(log, duration, maxSpans) : PlayheadQuartiles(log, duration, playedAt);
        for (var i = 0; i < reached.Count; i++)
            reached[i] = reached[i] with { Ts = Math.Max(reached[i].Ts, playedAt) };
        reached.Insert(0, new QuartileReach(0, playedAt));
        return reached;
    }

    /// <summary>
    /// The share of the media consumed, as <see cref="AttentionSpan"/> counts it (spans covered by at least half by some
    /// pass), reaches 25, 50, 75 and 100 % at the end of the watched interval that brings it there. Passes only grow as
    /// intervals join them, so the share never falls and each quartile is reached at most once, in order.
    /// </summary>
    private static List<QuartileReach> ConsumedQuartiles(ReadOnlySpan<LogEntry> log, double duration, int maxSpans)
    {
        var reached = new List<QuartileReach>(4);
        var grid = new SpanGrid(duration, maxSpans);
        var covered = new bool[grid.Count];
        var coveredCount = 0;
        Pass? current = null;
        foreach (var interval in new IntervalScan(log))
        {
            int fromSpan;
            if (current is { } pass && Continues(pass, interval))
            {
                // Only the spans from the old end on can change when a pass grows at its end.
                fromSpan = grid.SpansTouched(pass.End, pass.End).First;
                current = pass with { End = Math.Max(pass.End, interval.End) };
            }
            else
            {
                current = new Pass(interval.Start, interval.End);
                fromSpan = grid.SpansTouched(interval.Start, interval.Start).First;
            }

            var grown = current.Value;
            for (var span = fromSpan; span <= grid.SpansTouched(grown.Start, grown.End).Last; span++)
            {
                if (!covered[span] && grid.Covers(grown, span))
                {
                    covered[span] = true;
                    coveredCount++;
                }
            }

            var next = 25 * (reached.Count + 1);
            while (next <= 100 && coveredCount * 100 >= next * grid.Count)
            {
                reached.Add(new QuartileReach(next, interval.EndTs));
                next += 25;
            }

            if (reached.Count == 4)
                break;
        }

        return reached;
    }

    /// <summary>
    /// Brightcove-style milestones: 25, 50 and 75 when a watched interval first reaches that share of the duration; 100
    /// at <c>ended</c> or when an interval comes within 1 s of the end. A quartile reached after a higher one is left out.
    /// </summary>
    private static List<QuartileReach> PlayheadQuartiles(ReadOnlySpan<LogEntry> log, double duration, long playedAt)
    {
        var reached = new List<QuartileReach>(4);
        long? at25 = null, at50 = null, at75 = null, nearEnd = null;
        foreach (var interval in new IntervalScan(log))
        {
            at25 ??= interval.End >= duration * 0.25 ? interval.EndTs : null;
            at50 ??= interval.End >= duration * 0.50 ? interval.EndTs : null;
            at75 ??= interval.End >= duration * 0.75 ? interval.EndTs : null;
            nearEnd ??= interval.End >= duration - 1 ? interval.EndTs : null;
            if (at25 is not null && at50 is not null && at75 is not null && nearEnd is not null)
                break;
        }

        long? ended = null;
        foreach (ref readonly var entry in log)
        {
            if (entry.Event == BeaconEvent.Ended && entry.Ts >= playedAt)
            {
                ended = entry.Ts;
                break;
            }
        }

        if (at25 is { } ts25)
            reached.Add(new QuartileReach(25, ts25));
        if (at50 is { } ts50)
            reached.Add(new QuartileReach(50, ts50));
        if (at75 is { } ts75)
            reached.Add(new QuartileReach(75, ts75));
        if (Earliest(ended, nearEnd) is { } completedAt)
            reached.Add(new QuartileReach(100, completedAt));

        reached.Sort((a, b) => a.Ts != b.Ts ? a.Ts.CompareTo(b.Ts) : a.Percent.CompareTo(b.Percent));
        var kept = 0;
        for (var i = 0; i < reached.Count; i++)
        {
            if (kept == 0 || reached[i].Percent > reached[kept - 1].Percent)
                reached[kept++] = reached[i];
        }

        reached.RemoveRange(kept, reached.Count - kept);
        return reached;
    }

    /// <summary>The client time of the first <c>play</c> in a log.</summary>
    public static long? FirstPlay(ReadOnlySpan<LogEntry> log)
    {
        foreach (ref readonly var entry in log)
        {
            if (entry.Event == BeaconEvent.Play)
                return entry.Ts;
        }

        return null;
    }

    private static long? Earliest(long? a, long? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);

    /// <summary>Whether a watched interval carries on a pass (it starts where the pass ended), rather than starting another.</summary>
    private static bool Continues(Pass pass, WatchedInterval interval) => Math.Abs(interval.Start - pass.End) <= JoinTolerance;

    /// <summary>How long one span of the attention-span map is, seconds.</summary>
    public static double SpanWidth(double duration, int maxSpans) => new SpanGrid(duration, maxSpans).Width;

    /// <summary>The media cut into <see cref="Count"/> equal spans: one a second, up to the most an attention span holds.</summary>
    private readonly record struct SpanGrid(double Duration, int MaxSpans)
    {
        public int Count { get; } = (int)Math.Min(Math.Ceiling(Duration), MaxSpans);

        public double Width => Duration / Count;

        /// <summary>The first and last span a stretch of the media touches, clamped to the media.</summary>
        public (int First, int Last) SpansTouched(double start, double end) =>
            (Math.Min((int)(Math.Clamp(start, 0, Duration) / Width), Count - 1), Math.Min((int)(Math.Clamp(end, 0, Duration) / Width), Count - 1));

        /// <summary>Whether the pass covers at least half of the span.</summary>
        public bool Covers(Pass pass, int span)
        {
            var start = Math.Clamp(pass.Start, 0, Duration);
            var end = Math.Clamp(pass.End, 0, Duration);
            var covered = Math.Min(end, (span + 1) * Width) - Math.Max(start, span * Width);
            return covered >= Width / 2 - 1e-9;
        }
    }

    /// <summary>
    /// The watched intervals of a log, one at a time and without allocating: the merge path runs it for every message,
    /// so its cost must not grow with more than the log it reads.
    /// </summary>
    public ref struct IntervalScan(ReadOnlySpan<LogEntry> log)
    {
        private readonly ReadOnlySpan<LogEntry> _log = log;
        private int _next;
        private bool _playing;

        public WatchedInterval Current { get; private set; }

        public readonly IntervalScan GetEnumerator() => this;

        public bool MoveNext()
        {
            while (_next < _log.Length)
            {
                ref readonly var entry = ref _log[_next];
                var found = false;
                // From a seek's start to its end the player shows nothing: no interval, whatever the positions say.
                if (_playing && _next > 0 && _log[_next - 1] is { Position: { } start, Event: not BeaconEvent.SeekStart } from
                    && entry.PositionBefore is { } end)
                {
                    var wallSeconds = (entry.Ts - from.Ts) / 1000.0;
                    if (end > start && end - start <= wallSeconds * MaxPlaybackRate + PlaybackSlack)
                    {
                        Current = new WatchedInterval(start, end, from.Ts, entry.Ts);
                        found = true;
                    }
                }

                _playing = entry.Event switch
                {
                    BeaconEvent.Play or BeaconEvent.Heartbeat => true,
                    BeaconEvent.Pause or BeaconEvent.Ended or BeaconEvent.End => false,
                    _ => _playing,
                };
                _next++;
                if (found)
                    return true;
            }

            return false;
        }
    }
}
