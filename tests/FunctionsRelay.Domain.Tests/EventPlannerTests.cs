using System.Text.Json;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.Tests;

public class EventPlannerTests
{
    private static readonly SessionOptions Options = new();

    private static List<string> Keys(IEnumerable<PendingEvent> events) => events.Select(e => e.Key).ToList();

    private static JsonElement Json(PendingEvent pending) => JsonDocument.Parse(pending.Payload).RootElement;

    [Fact]
    public void Coalescing_keeps_the_highest_quartile_once_the_oldest_is_due_long_enough_and_none_was_delivered()
    {
        var session = new SessionScript().Start(0).Play(1, 0).Heartbeat(6, 5).Heartbeat(11, 10).Merge();
        var decided = EventPlanner.Decide(session, Options);
        session.MarkDue(decided, dueSince: 1_000);

        Assert.Empty(session.CoalesceQuartiles(dueBefore: 1_000));
        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "quartile-75", "quartile-100"], Keys(session.Outbox));

        Assert.Equal(["quartile-0", "quartile-25", "quartile-50", "quartile-75"], Keys(session.CoalesceQuartiles(dueBefore: 1_001)));
        Assert.Equal(["played", "quartile-100"], Keys(session.Outbox));
        Assert.Empty(EventPlanner.Decide(session, Options));
    }

    [Fact]
    public void Coalescing_leaves_a_session_alone_once_one_of_its_quartiles_was_delivered()
    {
        var session = new SessionScript().Start(0).Play(1, 0).Heartbeat(6, 5).Merge();
        session.MarkDue(EventPlanner.Decide(session, Options), dueSince: 1_000);
        session.MarkDelivered("quartile-0");

        Assert.Empty(session.CoalesceQuartiles(dueBefore: 5_000));
        Assert.Equal(["played", "quartile-25", "quartile-50"], Keys(session.Outbox));
    }

    [Fact]
    public void First_play_decides_the_played_event_and_quartile_0_once()
    {
        var session = new SessionScript().Start(0).Play(1, 0).Merge();

        var first = EventPlanner.Decide(session, Options);
        var again = EventPlanner.Decide(session, Options);

        Assert.Equal(["played", "quartile-0"], Keys(first));
        Assert.Empty(again);
        Assert.Equal(SessionScript.Ts(1), Json(first[0]).GetProperty("occurredTimestamp").GetInt64());
        Assert.Equal(0, Json(first[1]).GetProperty("playedPercent").GetInt32());
    }

    [Fact]
    public void Quartiles_follow_the_furthest_point_watched_in_ascending_order()
    {
        var script = new SessionScript(duration: 40).Play(0, 0).Heartbeat(10, 10);
        var session = script.Merge();
        Assert.Equal(["played", "quartile-0", "quartile-25"], Keys(EventPlanner.Decide(session, Options)));

        foreach (var beacon in new SessionScript(duration: 40).Play(0, 0).Heartbeat(10, 10).Heartbeat(20, 20).Heartbeat(31, 31).Beacons.Skip(2))
            session.Merge(beacon, beacon.Ts, Options.MaxLogEntries);
        var next = EventPlanner.Decide(session, Options);

        Assert.Equal(["quartile-50", "quartile-75"], Keys(next));
        Assert.Equal(SessionScript.Ts(20), Json(next[0]).GetProperty("occurredTimestamp").GetInt64());
        Assert.Equal(SessionScript.Ts(31), Json(next[1]).GetProperty("occurredTimestamp").GetInt64());
    }

    [Fact]
    public void By_the_playhead_rule_quartile_100_comes_with_ended_or_within_one_second_of_the_end()
    {
        var playhead = new SessionOptions { QuartileRule = QuartileRule.Playhead };
        var byEnded = new SessionScript().Play(0, 0).Pause(2, 2).Seek(3, 2, 9.5).Ended(4, 9.5).Merge();
        var byInterval = new SessionScript().Play(0, 0).Pause(9.2, 9.1).Merge();

        Assert.Equal(["played", "quartile-0", "quartile-100"], Keys(EventPlanner.Decide(byEnded, playhead)));
        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "quartile-75", "quartile-100"], Keys(EventPlanner.Decide(byInterval, playhead)));
    }

    [Fact]
    public void By_the_playhead_rule_a_lower_quartile_reached_after_a_higher_one_is_not_sent()
    {
        var playhead = new SessionOptions { QuartileRule = QuartileRule.Playhead };
        var session = new SessionScript().Play(0, 0).Pause(1, 1).Seek(2, 1, 9.9).Ended(3, 9.9).Seek(4, 9.9, 0).Play(5, 0).Pause(10, 5).Merge();

        Assert.Equal(["played", "quartile-0", "quartile-100"], Keys(EventPlanner.Decide(session, playhead)));
    }

    [Fact]
    public void A_seek_ahead_does_not_count_as_consumed()
    {
        // HubSpot's example of what must not happen: seek to 80 % of a 100 s video and watch 10 s.
        var session = new SessionScript(duration: 100).Play(0, 0).Seek(1, 0, 80).Play(1, 80).Pause(11, 90).Merge();

        Assert.Equal(["played", "quartile-0"], Keys(EventPlanner.Decide(session, Options)));
    }

    [Fact]
    public void Quartiles_follow_the_share_consumed_and_100_needs_every_span()
    {
        var session = new SessionScript().Play(0, 0).Heartbeat(3, 3).Seek(4, 4, 8).Play(4, 8).Pause(6, 10).Merge();
        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50"], Keys(EventPlanner.Decide(session, Options)));

        var almost = new SessionScript().Play(0, 0).Pause(9.2, 9.1).Merge();
        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "quartile-75"], Keys(EventPlanner.Decide(almost, Options)));

        var whole = new SessionScript().Play(0, 0).Heartbeat(5, 5).Ended(10, 10).Merge();
        var events = EventPlanner.Decide(whole, Options);
        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "quartile-75", "quartile-100"], Keys(events));
        Assert.Equal(SessionScript.Ts(10), Json(events[^1]).GetProperty("occurredTimestamp").GetInt64());
    }

    [Fact]
    public void An_mparticle_web_sdk_session_counts_what_was_watched_and_not_what_was_skipped()
    {
        var session = SessionScript.Merge(BeaconParserTests.WebMediaSdkBeacons());
        EventPlanner.CloseIfDue(session, session.LastActivityAt + 1, Options);

        var events = EventPlanner.Decide(session, Options);

        // Watched 0-12 s, skipped to 90 s, watched 90-101 s, restarted, watched 0-11 s again: 23 of 120 spans, 34 s.
        Assert.Equal(["played", "quartile-0", "attention-span"], Keys(events));
        var span = Json(events[^1]).GetProperty("derivedValues");
        Assert.Equal(0.1917, span.GetProperty("totalPercentPlayed").GetDouble());
        Assert.Equal(34, span.GetProperty("totalSecondsPlayed").GetInt32());
    }

    [Fact]
    public void A_live_stream_gets_its_played_event_and_nothing_else()
    {
        var session = SessionScript.Merge(BeaconParserTests.WebMediaSdkBeacons(streamType: "LiveStream"));
        EventPlanner.CloseIfDue(session, session.LastActivityAt + 1, Options);

        Assert.Equal(["played"], Keys(EventPlanner.Decide(session, Options)));
        Assert.True(session.IsClosed);
        Assert.Null(session.SkipReason);
    }

    [Fact]
    public void Watching_the_start_again_after_the_end_adds_nothing()
    {
        var session = new SessionScript().Play(0, 0).Heartbeat(5, 5).Ended(10, 10).Seek(11, 10, 0).Play(11, 0).Pause(16, 5).Merge();

        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "quartile-75", "quartile-100"], Keys(EventPlanner.Decide(session, Options)));
    }

    [Fact]
    public void Quartile_0_goes_with_the_played_event_even_when_heartbeats_before_the_first_play_reached_25()
    {
        // No seq, and the player's own play beacon was lost: heartbeats say it played, then a pause and a play later on.
        var session = new SessionScript { Numbered = false }.Heartbeat(0, 0).Heartbeat(4, 4).Pause(5, 5).Play(6, 5).Pause(7, 6).Merge();

        var events = EventPlanner.Decide(session, Options);

        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50"], Keys(events));
        Assert.All(events, e => Assert.Equal(SessionScript.Ts(6), Json(e).GetProperty("occurredTimestamp").GetInt64()));
    }

    [Fact]
    public void End_closes_the_session_and_decides_the_attention_span_from_the_whole_log()
    {
        var session = new SessionScript().Play(0, 0).Pause(5, 5).Seek(6, 5, 0).Play(7, 0).Pause(9, 2).End(12, 2).Merge();

        Assert.True(EventPlanner.CloseIfDue(session, SessionScript.Ts(12), Options));
        var events = EventPlanner.Decide(session, Options);

        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "attention-span"], Keys(events));
        var span = Json(events[^1]);
        Assert.Equal("0=2;1=2;2=1;3=1;4=1;5=0;6=0;7=0;8=0;9=0;", span.GetProperty("rawDataString").GetString());
        Assert.Equal(2, span.GetProperty("rawDataMap").GetProperty("0").GetInt32());
        Assert.Equal(0, span.GetProperty("rawDataMap").GetProperty("9").GetInt32());
        Assert.Equal(10, span.GetProperty("rawDataMap").EnumerateObject().Count());
        Assert.Equal(0.5, span.GetProperty("derivedValues").GetProperty("totalPercentPlayed").GetDouble());
        Assert.Equal(7, span.GetProperty("derivedValues").GetProperty("totalSecondsPlayed").GetInt32());
        Assert.Equal(SessionScript.Ts(12), span.GetProperty("occurredTimestamp").GetInt64());
        Assert.Equal(CloseReason.End, session.CloseReason);
    }

    [Fact]
    public void A_session_without_end_closes_after_the_idle_timeout()
    {
        var session = new SessionScript().Play(0, 0).Heartbeat(8, 8).Merge();
        var lastSeen = session.LastActivityAt;
        EventPlanner.Decide(session, Options);

        Assert.False(EventPlanner.CloseIfDue(session, lastSeen + (long)Options.IdleTimeout.TotalMilliseconds - 1, Options));
        Assert.Equal(lastSeen + (long)Options.IdleTimeout.TotalMilliseconds, EventPlanner.NextCloseCheckAt(session, Options));
        Assert.True(EventPlanner.CloseIfDue(session, lastSeen + (long)Options.IdleTimeout.TotalMilliseconds, Options));

        var events = EventPlanner.Decide(session, Options);
        Assert.Equal(["attention-span"], Keys(events));
        Assert.Equal(SessionScript.Ts(8), Json(events[0]).GetProperty("occurredTimestamp").GetInt64());
        Assert.Equal(CloseReason.Idle, session.CloseReason);
    }

    [Fact]
    public void Beacons_after_close_are_dropped_and_counted()
    {
        var session = new SessionScript().Play(0, 0).End(3, 3).Merge();
        EventPlanner.CloseIfDue(session, SessionScript.Ts(3), Options);

        var outcome = session.Merge(new SessionScript().Heartbeat(4, 4).Beacons[0] with { Seq = 99 }, SessionScript.Ts(4), Options.MaxLogEntries);

        Assert.Equal(MergeOutcome.SessionClosed, outcome);
        Assert.Equal(1, session.DroppedAfterClose);
    }

    [Fact]
    public void A_beacon_sent_again_after_close_is_a_duplicate_not_a_drop()
    {
        var script = new SessionScript().Play(0, 0).End(3, 3);
        var session = script.Merge();
        EventPlanner.CloseIfDue(session, SessionScript.Ts(3), Options);

        var outcome = session.Merge(script.Beacons[0], SessionScript.Ts(4), Options.MaxLogEntries);

        Assert.Equal(MergeOutcome.Duplicate, outcome);
        Assert.Equal(0, session.DroppedAfterClose);
        Assert.Equal(1, session.DuplicatesDropped);
    }

    [Fact]
    public void A_missing_seq_holds_back_live_events_and_the_close_until_it_arrives()
    {
        var beacons = new SessionScript().Play(0, 0).Heartbeat(5, 5).Pause(8, 8).End(9, 8).Beacons;
        var session = SessionScript.Merge(beacons.Where(b => b.Seq != 1));

        Assert.Equal(1, session.SettledCount());
        Assert.False(EventPlanner.CloseIfDue(session, SessionScript.Ts(9), Options));
        Assert.Equal(["played", "quartile-0"], Keys(EventPlanner.Decide(session, Options)));

        session.Merge(beacons[1], SessionScript.Ts(10), Options.MaxLogEntries);
        Assert.Equal(4, session.SettledCount());
        Assert.True(EventPlanner.CloseIfDue(session, SessionScript.Ts(10), Options));
        Assert.Equal(["quartile-25", "quartile-50", "quartile-75", "attention-span"], Keys(EventPlanner.Decide(session, Options)));
    }

    [Fact]
    public void Without_seq_0_nothing_is_settled_so_a_late_first_beacon_still_counts()
    {
        var beacons = new SessionScript().Play(0, 0).Heartbeat(5, 5).End(9, 5).Beacons;
        var session = SessionScript.Merge(beacons.Skip(1));

        Assert.Equal(0, session.SettledCount());
        Assert.Empty(EventPlanner.Decide(session, Options));
        Assert.False(EventPlanner.CloseIfDue(session, SessionScript.Ts(9), Options));
    }

    [Fact]
    public void Live_events_wait_for_a_missing_first_seq_only_the_reorder_window_then_go_from_what_arrived()
    {
        // The first request (the player's start, seq 0) was lost; its play (seq 1) and a heartbeat came.
        var beacons = new SessionScript().Start(0).Play(0, 0).Heartbeat(5, 5).Pause(12, 12).End(13, 12).Beacons;
        var session = SessionScript.Merge(beacons.Skip(1).Take(2));
        var window = (long)Options.ReorderWindow.TotalMilliseconds;
        var now = session.LastActivityAt;

        Assert.True(EventPlanner.SettleGaps(session, now, Options));
        Assert.Empty(EventPlanner.Decide(session, Options));
        Assert.Equal(now + window, EventPlanner.NextCloseCheckAt(session, Options));
        Assert.False(EventPlanner.SettleGaps(session, now + window - 1, Options));
        Assert.Empty(EventPlanner.Decide(session, Options));

        Assert.True(EventPlanner.SettleGaps(session, now + window, Options));
        Assert.Equal(["played", "quartile-0"], Keys(EventPlanner.Decide(session, Options)).Take(2));
        Assert.Equal(0, session.SettledCount());

        // Later beacons above what was waited for are settled as they come; the one that was missing still counts.
        session.Merge(beacons[3], now + window + 1, Options.MaxLogEntries);
        Assert.Equal(session.Log.Count, session.DecidableCount());
        session.Merge(beacons[0], now + window + 2, Options.MaxLogEntries);
        session.Merge(beacons[4], now + window + 3, Options.MaxLogEntries);
        Assert.True(EventPlanner.CloseIfDue(session, now + window + 3, Options));
        var events = EventPlanner.Decide(session, Options);
        Assert.Equal(12, Json(events.Single(e => e.Key == "attention-span")).GetProperty("derivedValues").GetProperty("totalSecondsPlayed").GetInt32());
    }

    [Fact]
    public void A_player_numbering_from_1_gets_its_played_event_after_the_reorder_window_but_its_end_waits_the_grace()
    {
        var beacons = new SessionScript().Play(0, 0).Heartbeat(5, 5).End(6, 5).Beacons.Select(b => b with { Seq = b.Seq + 1 });
        var session = SessionScript.Merge(beacons);
        var now = session.LastActivityAt;
        var window = (long)Options.ReorderWindow.TotalMilliseconds;

        EventPlanner.SettleGaps(session, now, Options);
        EventPlanner.SettleGaps(session, now + window, Options);

        Assert.Equal(["played", "quartile-0"], Keys(EventPlanner.Decide(session, Options)).Take(2));
        Assert.False(EventPlanner.CloseIfDue(session, now + window, Options));
        Assert.True(EventPlanner.CloseIfDue(session, now + (long)Options.EndGracePeriod.TotalMilliseconds, Options));
    }

    [Fact]
    public void An_end_with_a_gap_before_it_closes_after_the_grace_period()
    {
        var beacons = new SessionScript().Play(0, 0).Heartbeat(5, 5).End(9, 8).Beacons;
        var session = SessionScript.Merge(beacons.Where(b => b.Seq != 1));
        var grace = (long)Options.EndGracePeriod.TotalMilliseconds;

        Assert.Equal(session.LastActivityAt + grace, EventPlanner.NextCloseCheckAt(session, Options));
        Assert.False(EventPlanner.CloseIfDue(session, session.LastActivityAt + grace - 1, Options));
        Assert.True(EventPlanner.CloseIfDue(session, session.LastActivityAt + grace, Options));
        Assert.Equal(CloseReason.End, session.CloseReason);
    }

    [Theory]
    [InlineData("contact", SkipReason.NoContact)]
    [InlineData("media", SkipReason.NoMedia)]
    [InlineData("duration", SkipReason.NoDuration)]
    public void A_session_missing_an_identity_is_never_sent_and_says_why(string missing, SkipReason reason)
    {
        var beacons = new SessionScript().Play(0, 0).End(5, 5).Beacons.Select(b => missing switch
        {
            "contact" => b with { Contact = null },
            "media" => b with { Media = null },
            _ => b with { Duration = null },
        });
        var session = SessionScript.Merge(beacons);

        Assert.Empty(EventPlanner.Decide(session, Options));
        Assert.Null(session.SkipReason);
        EventPlanner.CloseIfDue(session, SessionScript.Ts(5), Options);
        Assert.Empty(EventPlanner.Decide(session, Options));
        Assert.Equal(reason, session.SkipReason);
    }

    [Fact]
    public void A_session_that_never_played_sends_nothing()
    {
        var session = new SessionScript().Start(0).End(5, 0).Merge();
        EventPlanner.CloseIfDue(session, SessionScript.Ts(5), Options);

        Assert.Empty(EventPlanner.Decide(session, Options));
        Assert.Equal(SkipReason.NeverPlayed, session.SkipReason);
    }

    [Fact]
    public void Payloads_carry_hubspots_field_names_and_leave_out_what_is_unknown()
    {
        var session = new SessionScript().Play(0, 0).Merge();
        var played = Json(EventPlanner.Decide(session, Options)[0]);

        var names = played.EnumerateObject().Select(p => p.Name).Order().ToList();
        Assert.Equal(["contactUtk", "externalId", "externalPlayContext", "mediaName", "mediaType", "mediaUrl", "occurredTimestamp", "pageName", "pageUrl", "sessionId", "state"], names);
        Assert.Equal("STARTED", played.GetProperty("state").GetString());
        Assert.Equal("VIDEO", played.GetProperty("mediaType").GetString());
        Assert.Equal("EXTERNAL_PAGE", played.GetProperty("externalPlayContext").GetString());
        Assert.Equal("session-1", played.GetProperty("sessionId").GetString());
        Assert.Equal("video-7", played.GetProperty("externalId").GetString());
        Assert.Equal("utk-abc", played.GetProperty("contactUtk").GetString());
    }

    [Fact]
    public void Contact_id_wins_over_utk_and_media_bridge_id_over_external_id_and_page_id_over_name_and_url()
    {
        var beacons = new SessionScript().Play(0, 0).Beacons.Select(b => b with
        {
            Contact = new ContactInfo(77, "utk-abc"),
            Media = new MediaInfo("video-7", 9001, "Launch", null, MediaType.Audio),
            Page = new PageInfo(555, "Pricing", "https://example.com"),
        });
        var played = Json(EventPlanner.Decide(SessionScript.Merge(beacons), Options)[0]);

        Assert.Equal(77, played.GetProperty("contactId").GetInt64());
        Assert.False(played.TryGetProperty("contactUtk", out _));
        Assert.Equal(9001, played.GetProperty("mediaBridgeId").GetInt64());
        Assert.False(played.TryGetProperty("externalId", out _));
        Assert.Equal(555, played.GetProperty("pageId").GetInt64());
        Assert.False(played.TryGetProperty("pageName", out _));
        Assert.Equal("AUDIO", played.GetProperty("mediaType").GetString());
    }

    [Fact]
    public void The_latest_beacon_sets_the_media_whatever_order_they_arrive_in()
    {
        var script = new SessionScript().Play(0, 0).Heartbeat(5, 5);
        var later = script.Beacons[1] with { Media = SessionScript.Media with { Name = "Renamed" } };
        var early = script.Beacons[0];

        var inOrder = SessionScript.Merge([early, later]);
        var reversed = SessionScript.Merge([later, early]);

        Assert.Equal("Renamed", inOrder.Media!.Value.Value.Name);
        Assert.Equal("Renamed", reversed.Media!.Value.Value.Name);
    }
}
