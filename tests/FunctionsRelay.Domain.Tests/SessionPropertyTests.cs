using FsCheck.Xunit;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.Tests;

/// <summary>Properties over random sessions: each seed makes a session of plays, pauses, heartbeats, seeks both ways and an end.</summary>
public class SessionPropertyTests
{
    private static readonly SessionOptions Options = new();

    /// <param name="seekStarts">Each seek also as mParticle's Media SDKs send it: a Seek Start at the seek's origin in the same millisecond as its end.</param>
    internal static SessionScript RandomSession(int seed, bool numbered, bool seekStarts = false)
    {
        var random = new Random(seed);
        var duration = Math.Round(1 + (random.NextDouble() * 300), 3);
        var script = new SessionScript(duration) { Numbered = numbered }.Start(0);
        double wall = 0.2, position = 0;
        var steps = random.Next(1, 40);
        for (var i = 0; i < steps; i++)
        {
            wall += Math.Round(random.NextDouble() * 20, 3);
            // Mostly real-time playback; now and then a burst the wall clock cannot explain.
            var advance = random.Next(10) == 0 ? random.NextDouble() * 120 : random.NextDouble() * 20;
            switch (random.Next(6))
            {
                case 0:
                    script.Play(wall, position);
                    break;
                case 1:
                    position = Math.Min(duration, position + advance);
                    script.Pause(wall, position);
                    break;
                case 2:
                case 3:
                    position = Math.Min(duration, position + advance);
                    script.Heartbeat(wall, position);
                    break;
                case 4:
                    var from = Math.Min(duration, position + advance);
                    position = Math.Round(random.NextDouble() * duration, 3);
                    if (seekStarts)
                        script.SeekStart(wall, from);
                    script.Seek(wall, from, position);
                    break;
                default:
                    position = duration;
                    script.Ended(wall, position);
                    break;
            }
        }

        return script.End(wall + 1, position);
    }

    private static List<Beacon> ShuffledWithDuplicates(IReadOnlyList<Beacon> beacons, int seed)
    {
        var random = new Random(seed ^ 0x5eed);
        var arrivals = beacons.Concat(beacons.Where(_ => random.Next(3) == 0)).ToList();
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(arrivals));
        return arrivals;
    }

    /// <summary>Merges beacons one at a time as the relay would, deciding after each, and returns every event decided.</summary>
    private static List<PendingEvent> ProcessOneByOne(IEnumerable<Beacon> arrivals)
    {
        ViewingSession? session = null;
        var decided = new List<PendingEvent>();
        var receivedAt = SessionScript.T0;
        foreach (var beacon in arrivals)
        {
            session ??= new ViewingSession(beacon.PortalId, beacon.SessionId);
            session.Merge(beacon, ++receivedAt, Options.MaxLogEntries);
            EventPlanner.CloseIfDue(session, receivedAt, Options);
            decided.AddRange(EventPlanner.Decide(session, Options));
        }

        return decided;
    }

    /// <summary>
    /// Merges beacons one at a time and decides after each, as <see cref="ProcessOneByOne"/>; for each quartile decided,
    /// also the share of the media the log as it then stood shows consumed by that quartile's timestamp.
    /// </summary>
    private static List<(PendingEvent Event, double ShareKnownThen)> ProcessOneByOneWithShares(IEnumerable<Beacon> arrivals, double duration)
    {
        ViewingSession? session = null;
        var decided = new List<(PendingEvent, double)>();
        var receivedAt = SessionScript.T0;
        foreach (var beacon in arrivals)
        {
            session ??= new ViewingSession(beacon.PortalId, beacon.SessionId);
            session.Merge(beacon, ++receivedAt, Options.MaxLogEntries);
            EventPlanner.CloseIfDue(session, receivedAt, Options);
            foreach (var pending in EventPlanner.Decide(session, Options))
                decided.Add((pending, ConsumedShareAt(session.Log, duration, Timestamp(pending))));
        }

        return decided;
    }

    /// <summary>The share of spans watched at least once by the intervals of the log that ended by <paramref name="ts"/>.</summary>
    private static double ConsumedShareAt(IReadOnlyList<LogEntry> log, double duration, long ts)
    {
        var intervals = Playback.Intervals(log.ToArray()).Where(interval => interval.EndTs <= ts).ToList();
        var span = Playback.AttentionSpan(Playback.Passes(intervals), duration, Options.MaxSpans);
        return (double)span.Counts.Count(count => count > 0) / span.Counts.Length;
    }

    private static long Timestamp(PendingEvent pending) =>
        System.Text.Json.JsonDocument.Parse(pending.Payload).RootElement.GetProperty("occurredTimestamp").GetInt64();

    private static int? PlayedPercent(PendingEvent pending) =>
        pending.Kind == MediaEventKind.PlayedPercent
            ? System.Text.Json.JsonDocument.Parse(pending.Payload).RootElement.GetProperty("playedPercent").GetInt32()
            : null;

    private static List<PendingEvent> ProcessAllThenClose(IEnumerable<Beacon> arrivals)
    {
        var session = SessionScript.Merge(arrivals);
        EventPlanner.CloseIfDue(session, session.LastActivityAt + (long)Options.IdleTimeout.TotalMilliseconds, Options);
        return [.. EventPlanner.Decide(session, Options)];
    }

    [Property(MaxTest = 300)]
    public bool Numbered_beacons_in_any_order_and_repeated_give_the_same_events_one_by_one(int seed)
    {
        var beacons = RandomSession(seed, numbered: true).Beacons;

        return ProcessOneByOne(beacons).SequenceEqual(ProcessOneByOne(ShuffledWithDuplicates(beacons, seed)));
    }

    [Property(MaxTest = 300)]
    public bool Any_order_and_repetition_of_a_sessions_beacons_gives_the_same_events_at_close(int seed)
    {
        var beacons = RandomSession(seed, numbered: false).Beacons;

        return ProcessAllThenClose(beacons).SequenceEqual(ProcessAllThenClose(ShuffledWithDuplicates(beacons, seed)));
    }

    [Property(MaxTest = 300)]
    public bool A_seek_start_and_its_end_in_the_same_millisecond_count_as_the_seek_alone_in_any_order(int seed)
    {
        var plain = RandomSession(seed, numbered: false).Merge();
        var withStarts = SessionScript.Merge(ShuffledWithDuplicates(RandomSession(seed, numbered: false, seekStarts: true).Beacons, seed));
        var duration = plain.Duration!.Value.Value;

        var expected = EventPlanner.Report(plain.LogEntries, duration, Options);
        var actual = EventPlanner.Report(withStarts.LogEntries, duration, Options);
        return actual.AttentionSpan!.Counts.SequenceEqual(expected.AttentionSpan!.Counts)
            && actual.AttentionSpan.TotalSecondsPlayed == expected.AttentionSpan.TotalSecondsPlayed;
    }

    [Property(MaxTest = 300)]
    public bool Quartile_0_comes_with_every_played_event_in_any_order_with_or_without_seq(int seed)
    {
        var beacons = ShuffledWithDuplicates(RandomSession(seed, numbered: seed % 2 == 0).Beacons, seed);
        var events = ProcessOneByOne(beacons);

        var played = events.Where(e => e.Kind == MediaEventKind.Played).ToList();
        var zero = events.Where(e => PlayedPercent(e) == 0).ToList();
        return played.Count == zero.Count && played.Zip(zero).All(pair => Timestamp(pair.First) == Timestamp(pair.Second));
    }

    [Property(MaxTest = 300)]
    public bool With_seq_no_quartile_claims_more_than_the_whole_log_shows_consumed_by_its_timestamp(int seed)
    {
        var script = RandomSession(seed, numbered: true);
        var duration = script.Beacons[0].Duration!.Value;
        var fullLog = script.Merge().Log;

        return ProcessOneByOne(ShuffledWithDuplicates(script.Beacons, seed))
            .Where(e => PlayedPercent(e) is > 0)
            .All(e => ConsumedShareAt(fullLog, duration, Timestamp(e)) * 100 >= PlayedPercent(e)!.Value - 1e-9);
    }

    [Property(MaxTest = 300)]
    public bool Without_seq_no_quartile_claims_more_than_the_beacons_then_arrived_show_consumed(int seed)
    {
        var script = RandomSession(seed, numbered: false);
        var duration = script.Beacons[0].Duration!.Value;

        return ProcessOneByOneWithShares(ShuffledWithDuplicates(script.Beacons, seed), duration)
            .Where(decided => PlayedPercent(decided.Event) is > 0)
            .All(decided => decided.ShareKnownThen * 100 >= PlayedPercent(decided.Event)!.Value - 1e-9);
    }

    [Property(MaxTest = 300)]
    public bool No_span_is_counted_more_often_than_there_are_passes(int seed)
    {
        var script = RandomSession(seed, numbered: seed % 2 == 0);
        var session = script.Merge();
        var report = EventPlanner.Report(session.LogEntries, session.Duration!.Value.Value, Options);

        return report.AttentionSpan!.Counts.All(count => count <= report.Passes.Count);
    }

    [Property(MaxTest = 300)]
    public bool Seconds_played_never_exceed_what_the_wall_clock_allows(int seed)
    {
        var session = RandomSession(seed, numbered: true).Merge();
        var report = EventPlanner.Report(session.LogEntries, session.Duration!.Value.Value, Options);
        var allowed = session.Log.Zip(session.Log.Skip(1))
            .Sum(pair => ((pair.Second.Ts - pair.First.Ts) / 1000.0 * Playback.MaxPlaybackRate) + Playback.PlaybackSlack);

        return report.Passes.Sum(pass => pass.Length) <= allowed + 1e-9
            && report.AttentionSpan!.TotalSecondsPlayed <= Math.Ceiling(allowed)
            && report.AttentionSpan.TotalPercentPlayed is >= 0 and <= 1;
    }

    [Property(MaxTest = 100)]
    public bool A_session_survives_encoding_at_any_point(int seed)
    {
        var session = RandomSession(seed, numbered: seed % 2 == 0).Merge();
        EventPlanner.Decide(session, Options);

        var decoded = SessionCodec.Decode(session.PortalId, session.SessionId, SessionCodec.Encode(session));

        return decoded.Log.SequenceEqual(session.Log) && decoded.Outbox.SequenceEqual(session.Outbox) && decoded.Decided == session.Decided;
    }
}
