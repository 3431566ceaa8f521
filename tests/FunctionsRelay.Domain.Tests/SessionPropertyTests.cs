using FsCheck.Xunit;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.Tests;

/// <summary>Properties over random sessions: each seed makes a session of plays, pauses, heartbeats, seeks both ways and an end.</summary>
public class SessionPropertyTests
{
    private static readonly SessionOptions Options = new();

    internal static SessionScript RandomSession(int seed, bool numbered)
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
    public bool No_span_is_counted_more_often_than_there_are_passes(int seed)
    {
        var script = RandomSession(seed, numbered: seed % 2 == 0);
        var session = script.Merge();
        var report = EventPlanner.Report(session.LogEntries, session.Duration!.Value.Value, Options.MaxSpans);

        return report.AttentionSpan!.Counts.All(count => count <= report.Passes.Count);
    }

    [Property(MaxTest = 300)]
    public bool Seconds_played_never_exceed_what_the_wall_clock_allows(int seed)
    {
        var session = RandomSession(seed, numbered: true).Merge();
        var report = EventPlanner.Report(session.LogEntries, session.Duration!.Value.Value, Options.MaxSpans);
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
