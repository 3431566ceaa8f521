using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.Tests;

public class SessionCodecTests
{
    private static readonly SessionOptions Options = new();

    /// <summary>Two hours of video with a heartbeat every 10 s: 720 beacons.</summary>
    internal static SessionScript TwoHourSession()
    {
        var script = new SessionScript(duration: 7200).Start(0).Play(0.5, 0);
        for (var t = 10; t < 7200; t += 10)
            script.Heartbeat(t + 0.5, t);
        return script.Pause(7200.5, 7200).End(7201, 7200);
    }

    [Fact]
    public void A_log_stored_with_a_seek_start_after_its_end_is_read_back_with_the_start_first()
    {
        var ts = SessionScript.Ts(5);
        var storedByOlderOrder = new[]
        {
            new LogEntry(SessionScript.Ts(1), null, BeaconEvent.Play, 0, null),
            new LogEntry(ts, null, BeaconEvent.Seek, 60, 4),
            new LogEntry(ts, null, BeaconEvent.SeekStart, 4, null),
            new LogEntry(SessionScript.Ts(9), null, BeaconEvent.Heartbeat, 64, null),
        };
        var session = new ViewingSession(SessionScript.PortalId, "session-1");

        foreach (var entry in storedByOlderOrder)
            session.Restore(entry);

        Assert.Equal([BeaconEvent.Play, BeaconEvent.SeekStart, BeaconEvent.Seek, BeaconEvent.Heartbeat], session.Log.Select(e => e.Event));
        var span = EventPlanner.Report(session.LogEntries, 100, Options).AttentionSpan!;
        Assert.Equal(8, span.TotalSecondsPlayed);
    }

    [Fact]
    public void A_session_survives_encoding_unchanged()
    {
        var session = new SessionScript().Start(0).Play(1, 0).Seek(3, 2.0004, 7.25).Pause(4, 8.125).Merge();
        var decided = EventPlanner.Decide(session, Options);
        session.MarkDue(decided, dueSince: 456);
        session.DeliveryLeaseUntil = 123;
        session.DeliveryLeaseOwner = "worker-1";
        session.AnonymousHeldSince = 789;

        var decoded = SessionCodec.Decode(session.PortalId, session.SessionId, SessionCodec.Encode(session));

        Assert.Equal(session.Log, decoded.Log);
        Assert.Equal(session.Media, decoded.Media);
        Assert.Equal(session.Utk, decoded.Utk);
        Assert.Equal(session.Page, decoded.Page);
        Assert.Equal(session.Context, decoded.Context);
        Assert.Equal(session.Duration, decoded.Duration);
        Assert.Equal(session.Decided, decoded.Decided);
        Assert.Equal(session.Outbox, decoded.Outbox);
        Assert.NotEmpty(decoded.Outbox);
        Assert.All(decoded.Outbox, pending => Assert.Equal(456, pending.DueSince));
        Assert.Equal(789, decoded.AnonymousHeldSince);
        Assert.Equal(123, decoded.DeliveryLeaseUntil);
        Assert.Equal("worker-1", decoded.DeliveryLeaseOwner);
        Assert.Equal(session.LastActivityAt, decoded.LastActivityAt);
        Assert.Equal(SessionCodec.Encode(session), SessionCodec.Encode(decoded), SnapshotComparer.Instance);
    }

    [Fact]
    public void A_closed_session_keeps_why_it_closed_and_its_counters()
    {
        var session = new SessionScript().Play(0, 0).End(2, 2).Merge();
        session.Merge(new SessionScript().Play(0, 0).Beacons[0], SessionScript.Ts(2), Options.MaxLogEntries);
        EventPlanner.CloseIfDue(session, SessionScript.Ts(2), Options);

        var decoded = SessionCodec.Decode(session.PortalId, session.SessionId, SessionCodec.Encode(session));

        Assert.Equal(CloseReason.End, decoded.CloseReason);
        Assert.Equal(session.ClosedAt, decoded.ClosedAt);
        Assert.Equal(1, decoded.DuplicatesDropped);
    }

    [Fact]
    public void A_two_hour_session_with_a_heartbeat_every_10_s_stays_well_under_64_KiB()
    {
        var session = TwoHourSession().Merge();
        EventPlanner.CloseIfDue(session, SessionScript.Ts(7201), Options);
        EventPlanner.Decide(session, Options);

        var snapshot = SessionCodec.Encode(session);

        Assert.Equal(723, session.Log.Count);
        Assert.True(snapshot.Log.Length < 8 * 1024, $"log takes {snapshot.Log.Length} bytes");
        Assert.True(snapshot.Header.Length < 32 * 1024, $"header takes {snapshot.Header.Length} characters");
    }

    [Fact]
    public void An_unknown_log_format_is_refused()
    {
        Assert.Throws<InvalidDataException>(() => SessionCodec.Decode(1, "s", new SessionSnapshot("{}", [9, 0])));
    }

    private sealed class SnapshotComparer : IEqualityComparer<SessionSnapshot>
    {
        public static readonly SnapshotComparer Instance = new();

        public bool Equals(SessionSnapshot? x, SessionSnapshot? y) => x!.Header == y!.Header && x.Log.AsSpan().SequenceEqual(y.Log);

        public int GetHashCode(SessionSnapshot obj) => obj.Header.GetHashCode(StringComparison.Ordinal);
    }
}
