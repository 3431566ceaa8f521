using System.Text.Json;
using FunctionsRelay.Infrastructure.HubSpot;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// The whole chain in a real browser: headless Chromium plays the local host's demo page, whose player sends beacons
/// with player/relay-beacon.js; the relay runs on Azurite and sends to the stand-in HubSpot.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class BrowserTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 5151;

    [Fact]
    public async Task A_viewer_who_seeks_back_and_replays_reaches_HubSpot_as_what_the_browser_played()
    {
        await using var host = new RelayHost(azurite, HubSpot);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));

        // The page shows the portal's publishable key, as a customer's player would.
        var key = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key;
        var viewing = await PlayDemoAsync(host.Client.BaseAddress!, key);
        var sessionId = viewing.GetProperty("sessionId").GetString()!;
        var duration = viewing.GetProperty("duration").GetDouble();
        var passes = viewing.GetProperty("passes").EnumerateArray()
            .Select(p => (From: p[0].GetDouble(), To: p[1].GetDouble())).ToList();

        await host.EventuallyAsync(() => HubSpot.EventsOf(sessionId).Any(e => e.Key == "attention-span"), "the attention span reaches HubSpot");
        var events = HubSpot.EventsOf(sessionId);

        Assert.Single(events, e => e.Key == "played");
        Assert.Equal(["quartile-0", "quartile-25", "quartile-50", "quartile-75", "quartile-100"],
            events.Where(e => e.Key.StartsWith("quartile-", StringComparison.Ordinal)).Select(e => e.Key).OrderBy(k => int.Parse(k[9..])));
        Assert.Equal(7, events.Count);

        // A timeline-ready set: played with its state, quartiles, attention span, all on one media object of the portal.
        Assert.Equal("STARTED", Assert.Single(events, e => e.Key == "played").Json.GetProperty("state").GetString());
        var media = Assert.Single(HubSpot.Objects.Values, o => o.PortalId == Portal);
        Assert.Equal(("AUDIO", "e2e-tone"), (media.MediaType, media.ExternalId));
        Assert.All(events, e => Assert.Equal(media.Id, e.Json.GetProperty("mediaBridgeId").GetInt64()));
        var span = Assert.Single(events, e => e.Key == "attention-span").Json;
        Assert.Equal("AUDIO", span.GetProperty("mediaType").GetString());
        Assert.Equal(32, span.GetProperty("contactUtk").GetString()!.Length);

        // What the browser played, cut into the relay's spans: a pass counts for a span it covers by half or more.
        var counts = span.GetProperty("rawDataMap").EnumerateObject().ToDictionary(p => int.Parse(p.Name), p => p.Value.GetInt32());
        var spanCount = (int)Math.Ceiling(duration);
        Assert.Equal(Enumerable.Range(0, spanCount), counts.Keys.Order());
        var compared = 0;
        for (var i = 0; i < spanCount; i++)
        {
            var (start, end) = (i * duration / spanCount, (i + 1) * duration / spanCount);
            var covers = passes.Select(p => Math.Max(0, Math.Min(p.To, end) - Math.Max(p.From, start))).ToList();
            // The player reports where a seek left from to within a few milliseconds: a span the browser covered by
            // almost exactly half could go either way, so it is not compared.
            if (covers.Any(c => Math.Abs(c - (end - start) / 2) < 0.1))
                continue;
            compared++;
            Assert.True(counts[i] == covers.Count(c => c >= (end - start) / 2),
                $"span {i}: HubSpot got {counts[i]} views, the browser played it {covers.Count(c => c >= (end - start) / 2)} times (passes {string.Join(", ", passes)})");
        }

        Assert.True(compared >= spanCount - 2, $"only {compared} of {spanCount} spans could be compared");
        Assert.Contains(counts.Values, count => count == 2); // the replayed part
        var seconds = span.GetProperty("derivedValues").GetProperty("totalSecondsPlayed").GetDouble();
        Assert.InRange(seconds, passes.Sum(p => p.To - p.From) - 1, passes.Sum(p => p.To - p.From) + 1);
        Assert.Equal(1, span.GetProperty("derivedValues").GetProperty("totalPercentPlayed").GetDouble());

        BrowserScript.AssertScreenshots(viewing);
    }

    [Fact]
    public async Task A_player_answered_429_keeps_its_beacons_and_sends_them_again_after_retry_after()
    {
        // Six requests a minute for the portal's players: a bucket of one, refilled every 10 s. A stranger with the
        // page's key can drain it like this; the player's beacons must still all arrive.
        await using var host = new RelayHost(azurite, HubSpot, new() { ["Beacons:RequestsPerMinutePerPortal"] = "6" });
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var key = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key;

        var result = await BrowserScript.RunAsync("resend-after-429.mjs", host.Client.BaseAddress!.ToString().TrimEnd('/'), Portal.ToString(System.Globalization.CultureInfo.InvariantCulture), key);
        var sessionId = result.GetProperty("sessionId").GetString()!;
        var answers = result.GetProperty("answers").EnumerateArray().ToList();

        var refused = answers.Where(a => a.GetProperty("status").GetInt32() == 429).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, a => Assert.True(int.Parse(a.GetProperty("retryAfter").GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= 1));
        Assert.Contains(answers, a => a.GetProperty("status").GetInt32() == 202);
        await host.EventuallyAsync(() => HubSpot.EventsOf(sessionId).Any(e => e.Key == "attention-span"), "the attention span reaches HubSpot", seconds: 60);
        var events = HubSpot.EventsOf(sessionId).Select(e => e.Key).Order().ToList();
        Assert.Equal(["attention-span", "played", "quartile-0", "quartile-100", "quartile-25", "quartile-50", "quartile-75"], events);
        // Nothing the player recorded was lost: the attention span counts the whole tone once.
        var span = Assert.Single(HubSpot.EventsOf(sessionId), e => e.Key == "attention-span").Json;
        Assert.Equal(1, span.GetProperty("derivedValues").GetProperty("totalPercentPlayed").GetDouble());
    }

    [Fact]
    public async Task A_youtube_embed_followed_by_the_adapter_reaches_HubSpot_as_what_its_player_played()
    {
        await using var host = new RelayHost(azurite, HubSpot);
        // Against the page-local stand-in of YouTube's IFrame Player API: played to 5 s, paused, sought back to 2 s, played
        // to the end (8 s); then the player destroyed, made again and played 2.5 s.
        var (result, sessionId, events) = await PlayEmbedAsync(host, "play-youtube.mjs");

        // The video's object, made from what the adapter knows of a YouTube video: its id, watch URL and YouTube's oEmbed.
        AssertMediaObject(events, "yt-e2e", "YouTube E2E", "https://www.youtube.com/oembed?format=json&url=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3Dyt-e2e");

        // The player destroyed and made again: a second session, its own events (2.5 s of 8 played: quartiles 0 and 25).
        var second = result.GetProperty("secondSessionId").GetString()!;
        await AssertNewSessionAsync(host, sessionId, second, ["attention-span", "played", "quartile-0", "quartile-25"]);
        // Another video loaded in that player: a third session, on that video's own object (1.2 s of 8: one span, quartile 0).
        var third = result.GetProperty("thirdSessionId").GetString()!;
        await AssertNewSessionAsync(host, second, third, ["attention-span", "played", "quartile-0"]);
        AssertMediaObject(HubSpot.EventsOf(third), "yt-e2e-2", "YouTube E2E", "https://www.youtube.com/oembed?format=json&url=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3Dyt-e2e-2");

        // And the tracker stopped with the player: no beacon of the session came after it ended.
        Assert.DoesNotContain(host.Logs, line => line.Contains(sessionId, StringComparison.Ordinal) && System.Text.RegularExpressions.Regex.IsMatch(line, @", [1-9][0-9]* dropped as they came after the session closed"));
    }

    [Fact]
    public async Task A_vimeo_embed_followed_by_the_adapter_reaches_HubSpot_as_what_its_player_played()
    {
        await using var host = new RelayHost(azurite, HubSpot);
        // Against the page-local stand-in of Vimeo's Player SDK: played to 5 s, sought back to 2 s while playing, played to the end (8 s).
        var (result, sessionId, events) = await PlayEmbedAsync(host, "play-vimeo.mjs");

        AssertMediaObject(events, "76979871", "Vimeo E2E", "https://vimeo.com/api/oembed.json?url=https%3A%2F%2Fvimeo.com%2F76979871");
        // Then another video loaded in the player (loadVideo, the SDK's loaded event): a second session, on that video's
        // own object (1.2 s of 8: one span, quartile 0).
        var second = result.GetProperty("secondSessionId").GetString()!;
        await AssertNewSessionAsync(host, sessionId, second, ["attention-span", "played", "quartile-0"]);
        AssertMediaObject(HubSpot.EventsOf(second), "22439234", "Vimeo E2E", "https://vimeo.com/api/oembed.json?url=https%3A%2F%2Fvimeo.com%2F22439234");
    }

    [Fact]
    public async Task A_videojs_player_followed_by_the_plugin_reaches_HubSpot_as_what_it_played()
    {
        await using var host = new RelayHost(azurite, HubSpot);
        // The demo page's video.js (from npm) plays the 8 s tone: to 5 s, paused, sought back to 2 s, to the end; then
        // the player is disposed and made again, and plays 2.5 s.
        var (result, _, events) = await PlayEmbedAsync(host, "play-library.mjs", "videojs");

        AssertAudioObject(events, "videojs-e2e", "videojs E2E");
        await AssertSeekBackAsync(host, result);
        await AssertSecondSessionAsync(host, result);
    }

    [Fact]
    public async Task An_hls_stream_followed_by_the_helper_reaches_HubSpot_as_what_it_played_and_a_live_one_as_played_only()
    {
        await using var host = new RelayHost(azurite, HubSpot);
        // hls.js (from npm) plays the local host's 8 s HLS stream as video.js played the tone, is destroyed and made
        // again; then the live stream: 4 s played, 3 s back in its DVR window, 2 s more, the page left.
        var (result, _, events) = await PlayEmbedAsync(host, "play-library.mjs", "hls");

        AssertAudioObject(events, "hls-e2e", "hls E2E");
        await AssertSeekBackAsync(host, result);
        await AssertSecondSessionAsync(host, result);
        await AssertLiveAsync(host, result);
    }

    [Fact]
    public async Task A_shaka_player_followed_by_the_helper_reaches_HubSpot_as_what_it_played_and_a_live_one_as_played_only()
    {
        await using var host = new RelayHost(azurite, HubSpot);
        // Shaka Player (from npm) plays the same HLS stream through Media Source Extensions, as hls.js did: the same scenario,
        // destroyed and made again, then the live stream.
        var (result, _, events) = await PlayEmbedAsync(host, "play-library.mjs", "shaka");

        AssertAudioObject(events, "shaka-e2e", "shaka E2E");
        await AssertSeekBackAsync(host, result);
        await AssertSecondSessionAsync(host, result);
        await AssertLiveAsync(host, result);
    }

    /// <summary>The live part: a session live and without a duration, with the seek back in the window as the player made it, and a played event only.</summary>
    private async Task AssertLiveAsync(RelayHost host, JsonElement result)
    {
        var live = result.GetProperty("live");
        var liveId = live.GetProperty("sessionId").GetString()!;
        Assert.Equal(0, live.GetProperty("unsent").GetInt32());
        var session = await ClosedSessionAsync(host, liveId);
        Assert.True(session.IsLive);
        var seek = Assert.Single(session.LogEntries.ToArray(), e => e.Event == Domain.Beacons.BeaconEvent.Seek);
        Assert.Equal(live.GetProperty("seek").GetProperty("to").GetDouble(), seek.Position!.Value, tolerance: 0.2);
        Assert.InRange(seek.From!.Value - seek.Position!.Value, 2.5, 3.5);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(["played"], HubSpot.EventsOf(liveId).Select(e => e.Key));
        AssertAudioObject(HubSpot.EventsOf(liveId), "live-e2e", "Live E2E");
    }

    private static async Task<Domain.Sessions.ViewingSession> ClosedSessionAsync(RelayHost host, string sessionId)
    {
        var sessions = host.Service<FunctionsRelay.Infrastructure.Storage.SessionRepository>();
        await host.EventuallyAsync(() => sessions.GetAsync(Portal, sessionId, CancellationToken.None).GetAwaiter().GetResult()?.Session.IsClosed == true, "the session closes", seconds: 60);
        return (await sessions.GetAsync(Portal, sessionId, CancellationToken.None))!.Session;
    }

    /// <summary>The adapter told the seek back (5 s to 2 s, while paused) as a seek beacon, from where the player stopped.</summary>
    private static async Task AssertSeekBackAsync(RelayHost host, JsonElement result)
    {
        var session = await ClosedSessionAsync(host, result.GetProperty("sessionId").GetString()!);
        var seek = Assert.Single(session.LogEntries.ToArray(), e => e.Event == Domain.Beacons.BeaconEvent.Seek);
        Assert.Equal(2, seek.Position!.Value, tolerance: 0.1);
        Assert.Equal(result.GetProperty("passes")[0][1].GetDouble(), seek.From!.Value, tolerance: 0.1);
    }

    /// <summary>The player destroyed and made again: a second session, with its own events (2.5 s of 8 played: quartiles 0 and 25).</summary>
    private Task AssertSecondSessionAsync(RelayHost host, JsonElement result) =>
        AssertNewSessionAsync(host, result.GetProperty("sessionId").GetString()!, result.GetProperty("secondSessionId").GetString()!,
            ["attention-span", "played", "quartile-0", "quartile-25"]);

    /// <summary>A session after <paramref name="previous"/>, of its own, that reaches HubSpot with exactly these events.</summary>
    private async Task AssertNewSessionAsync(RelayHost host, string previous, string next, string[] keys)
    {
        Assert.NotEqual(previous, next);
        await host.EventuallyAsync(() => HubSpot.EventsOf(next).Any(e => e.Key == "attention-span"), $"session {next}'s attention span reaches HubSpot", seconds: 60);
        Assert.Equal(keys, HubSpot.EventsOf(next).Select(e => e.Key).Order());
    }

    /// <summary>
    /// Runs an embed's browser script against the host and waits for its session at the stand-in HubSpot: no page error,
    /// the played event, five quartiles and the attention span of what the stand-in played (0-5 s and 2-8 s of 8).
    /// </summary>
    private async Task<(JsonElement Result, string SessionId, List<ReceivedEvent> Events)> PlayEmbedAsync(RelayHost host, string script, params string[] arguments)
    {
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var key = (await host.Service<PortalTokenStore>().GetAccessAsync(Portal, CancellationToken.None))!.Key;
        var result = await BrowserScript.RunAsync(script, [host.Client.BaseAddress!.ToString().TrimEnd('/'), Portal.ToString(System.Globalization.CultureInfo.InvariantCulture), key, .. arguments]);
        Assert.Empty(result.GetProperty("errors").EnumerateArray());
        var sessionId = result.GetProperty("sessionId").GetString()!;
        var passes = result.GetProperty("passes").EnumerateArray().Select(p => (From: p[0].GetDouble(), To: p[1].GetDouble())).ToList();

        await host.EventuallyAsync(() => HubSpot.EventsOf(sessionId).Any(e => e.Key == "attention-span"), "the attention span reaches HubSpot", seconds: 60);
        var events = HubSpot.EventsOf(sessionId);
        Assert.Equal(["attention-span", "played", "quartile-0", "quartile-100", "quartile-25", "quartile-50", "quartile-75"], events.Select(e => e.Key).Order());
        AssertPlayedTwoToFiveTwice(Assert.Single(events, e => e.Key == "attention-span").Json, passes);
        return (result, sessionId, events);
    }

    /// <summary>The portal's one media object of the video, made from what the adapter knows of it, and every event on it.</summary>
    private void AssertMediaObject(List<ReceivedEvent> events, string externalId, string title, string oembedUrl)
    {
        var media = AssertObject(events, externalId, "VIDEO", title);
        Assert.Equal(oembedUrl, media.Fields.GetProperty("oembedUrl").GetString());
    }

    /// <summary>The portal's one media object of the sound the demo page played (named by the page), and every event on it.</summary>
    private void AssertAudioObject(List<ReceivedEvent> events, string externalId, string title) => AssertObject(events, externalId, "AUDIO", title);

    private MediaObject AssertObject(List<ReceivedEvent> events, string externalId, string mediaType, string title)
    {
        var media = Assert.Single(HubSpot.Objects.Values, o => o.PortalId == Portal && o.ExternalId == externalId);
        Assert.Equal((mediaType, title), (media.MediaType, media.Title));
        Assert.All(events, e => Assert.Equal(media.Id, e.Json.GetProperty("mediaBridgeId").GetInt64()));
        return media;
    }

    /// <summary>The attention span is what the stand-in played: 0-5 s and 2-8 s of 8, so 2-5 s twice.</summary>
    private static void AssertPlayedTwoToFiveTwice(JsonElement span, List<(double From, double To)> passes)
    {
        var played = passes.Sum(p => p.To - p.From);
        Assert.InRange(played, 10, 12);
        Assert.InRange(span.GetProperty("derivedValues").GetProperty("totalSecondsPlayed").GetDouble(), played - 1, played + 1);
        Assert.Equal(1, span.GetProperty("derivedValues").GetProperty("totalPercentPlayed").GetDouble());
        var counts = span.GetProperty("rawDataMap").EnumerateObject().ToDictionary(p => int.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture), p => p.Value.GetInt32());
        Assert.Equal((1, 2, 2, 1), (counts[0], counts[3], counts[4], counts[6]));
    }

    private static Task<JsonElement> PlayDemoAsync(Uri relay, string key) =>
        BrowserScript.RunAsync("play-demo.mjs", relay.ToString().TrimEnd('/'), Portal.ToString(System.Globalization.CultureInfo.InvariantCulture), key, BrowserScript.Artifacts);
}
