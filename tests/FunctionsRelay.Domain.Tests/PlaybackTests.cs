using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.Tests;

public class PlaybackTests
{
    private static SessionReport ReportOf(SessionScript script, double duration = 10, int maxSpans = 1000, QuartileRule rule = QuartileRule.Consumed)
    {
        var session = script.Merge();
        return EventPlanner.Report(session.LogEntries, duration, new SessionOptions { MaxSpans = maxSpans, QuartileRule = rule });
    }

    [Fact]
    public void HubSpots_own_example_watched_0_to_5_then_restarted_and_watched_0_to_2()
    {
        var script = new SessionScript()
            .Play(0, 0).Pause(5, 5)
            .Seek(6, from: 5, to: 0)
            .Play(7, 0).Pause(9, 2);

        var span = ReportOf(script).AttentionSpan!;

        Assert.Equal("0=2;1=2;2=1;3=1;4=1;5=0;6=0;7=0;8=0;9=0;", span.RawDataString);
        Assert.Equal(0.5, span.TotalPercentPlayed);
        Assert.Equal(7, span.TotalSecondsPlayed);
    }

    [Fact]
    public void Heartbeats_continue_one_pass()
    {
        var report = ReportOf(new SessionScript(duration: 30).Play(0, 0).Heartbeat(10, 10).Heartbeat(20, 20).Pause(25, 25), duration: 30);

        Assert.Equal(3, report.Intervals.Count);
        var pass = Assert.Single(report.Passes);
        Assert.Equal((0, 25), (pass.Start, pass.End));
        Assert.Equal(25, report.AttentionSpan!.TotalSecondsPlayed);
    }

    [Fact]
    public void Pause_stops_counting_until_play_resumes()
    {
        var report = ReportOf(new SessionScript().Play(0, 0).Pause(3, 3).Play(60, 3).Pause(65, 8));

        Assert.Equal(2, report.Intervals.Count);
        Assert.Single(report.Passes);
        Assert.Equal("0=1;1=1;2=1;3=1;4=1;5=1;6=1;7=1;8=0;9=0;", report.AttentionSpan!.RawDataString);
    }

    [Fact]
    public void Seek_forward_while_playing_skips_the_part_jumped_over()
    {
        var report = ReportOf(new SessionScript().Play(0, 0).Seek(2, from: 2, to: 6).Pause(4, 8));

        Assert.Equal([new Pass(0, 2), new Pass(6, 8)], report.Passes);
        Assert.Equal("0=1;1=1;2=0;3=0;4=0;5=0;6=1;7=1;8=0;9=0;", report.AttentionSpan!.RawDataString);
        Assert.Equal(4, report.AttentionSpan.TotalSecondsPlayed);
    }

    [Fact]
    public void Seek_back_while_playing_counts_the_rewatched_part_twice()
    {
        var report = ReportOf(new SessionScript().Play(0, 0).Seek(6, from: 6, to: 2).Pause(10, 6));

        Assert.Equal([new Pass(0, 6), new Pass(2, 6)], report.Passes);
        Assert.Equal("0=1;1=1;2=2;3=2;4=2;5=2;6=0;7=0;8=0;9=0;", report.AttentionSpan!.RawDataString);
        Assert.Equal(10, report.AttentionSpan.TotalSecondsPlayed);
    }

    [Fact]
    public void Seek_without_from_ends_the_interval_at_its_new_position()
    {
        // Without "from" the relay cannot tell where the jump began, so 0..1 is all it can count before the seek.
        var report = ReportOf(new SessionScript().Play(0, 0).Add(FunctionsRelay.Domain.Beacons.BeaconEvent.Seek, 4, 1).Pause(6, 3));

        Assert.Equal([new Pass(0, 3)], report.Passes);
        Assert.Equal(3, report.AttentionSpan!.TotalSecondsPlayed);
    }

    [Fact]
    public void An_interval_longer_than_four_times_the_wall_clock_plus_two_seconds_does_not_count()
    {
        // 30 s of media in 5 s of wall clock: at most 5 * 4 + 2 = 22 s is plausible.
        var implausible = ReportOf(new SessionScript(duration: 60).Play(0, 0).Pause(5, 30), duration: 60);
        var plausible = ReportOf(new SessionScript(duration: 60).Play(0, 0).Pause(5, 22), duration: 60);

        Assert.Empty(implausible.Intervals);
        Assert.Single(plausible.Intervals);
    }

    [Fact]
    public void Intervals_that_join_within_a_quarter_second_form_one_pass()
    {
        var joined = Playback.Passes([new WatchedInterval(0, 5, 0, 5000), new WatchedInterval(5.2, 8, 5000, 8000)]);
        var apart = Playback.Passes([new WatchedInterval(0, 5, 0, 5000), new WatchedInterval(5.3, 8, 5000, 8000)]);

        Assert.Equal([new Pass(0, 8)], joined);
        Assert.Equal(2, apart.Count);
    }

    [Fact]
    public void A_pass_counts_for_a_span_only_when_it_covers_at_least_half_of_it()
    {
        var span = Playback.AttentionSpan([new Pass(0.5, 2.49)], duration: 4, maxSpans: 1000);

        // Half of span 0 and 0.49 of span 2 are covered: the first counts, the second does not.
        Assert.Equal([1, 1, 0, 0], span.Counts);
        Assert.Equal([1, 1, 1, 0], Playback.AttentionSpan([new Pass(0.5, 2.5)], 4, 1000).Counts);
        Assert.Equal([0, 1, 1, 0], Playback.AttentionSpan([new Pass(0.51, 2.5)], 4, 1000).Counts);
    }

    [Fact]
    public void Long_media_is_cut_into_at_most_max_spans()
    {
        var span = Playback.AttentionSpan([new Pass(0, 3600)], duration: 7200, maxSpans: 1000);

        Assert.Equal(1000, span.Counts.Length);
        Assert.Equal(500, span.Counts.Count(count => count == 1));
        Assert.Equal(0.5, span.TotalPercentPlayed);
        Assert.Equal(3600, span.TotalSecondsPlayed);
    }

    [Fact]
    public void Fractional_duration_rounds_the_span_count_up()
    {
        var span = Playback.AttentionSpan([new Pass(0, 9.5)], duration: 9.5, maxSpans: 1000);

        Assert.Equal(10, span.Counts.Length);
        Assert.All(span.Counts, count => Assert.Equal(1, count));
        Assert.Equal(1, span.TotalPercentPlayed);
    }

    [Fact]
    public void Beacons_before_the_first_play_watch_nothing()
    {
        var report = ReportOf(new SessionScript().Start(0).Heartbeat(1, 0).Pause(3, 2));

        // A heartbeat means the player is playing after it, so 0..2 counts; the start beacon alone does not.
        Assert.Equal([new Pass(0, 2)], report.Passes);
    }
}
