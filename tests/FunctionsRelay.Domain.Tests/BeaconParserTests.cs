using System.Text;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;

namespace FunctionsRelay.Domain.Tests;

public class BeaconParserTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(SessionScript.T0);
    private const string Valid = """{"portalId":4242,"sessionId":"s-1","seq":0,"event":"play","ts":1760000000000,"position":0,"duration":10,"media":{"externalId":"v-1","name":"Demo","url":"https://cdn.example.com/v.mp4","type":"VIDEO"},"contact":{"utk":"u-1"},"page":{"name":"Home","url":"https://example.com/"},"context":"EXTERNAL_PAGE"}""";

    private static BeaconBatch Parse(string body, BeaconLimits? limits = null) =>
        new BeaconParser(limits ?? new BeaconLimits()).Parse(Encoding.UTF8.GetBytes(body), Now);

    private static string OnlyError(string body, BeaconLimits? limits = null)
    {
        var batch = Parse(body, limits);
        Assert.Empty(batch.Beacons);
        return Assert.Single(batch.Errors).ToString();
    }

    /// <summary>The valid beacon with one field replaced (or removed, for null).</summary>
    private static string With(string field, string? json)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(Valid)!.AsObject();
        node.Remove(field);
        if (json is not null)
            node[field] = System.Text.Json.Nodes.JsonNode.Parse(json);
        return node.ToJsonString();
    }

    [Fact]
    public void A_single_native_beacon_is_read_with_every_field()
    {
        var batch = Parse(Valid);

        var beacon = Assert.Single(batch.Beacons);
        Assert.Equal(
            new Beacon(4242, "s-1", BeaconEvent.Play, 1760000000000, 0, 0, null, 10,
                new MediaInfo("v-1", null, "Demo", "https://cdn.example.com/v.mp4", MediaType.Video),
                new ContactInfo(null, "u-1"), new PageInfo(null, "Home", "https://example.com/"), PlayContext.ExternalPage),
            beacon);
    }

    [Fact]
    public void An_array_and_a_beacons_envelope_are_read_alike()
    {
        Assert.Equal(2, Parse($"[{Valid},{Valid}]").Beacons.Count);
        Assert.Equal(2, Parse($$"""{"beacons":[{{Valid}},{{Valid}}]}""").Beacons.Count);
    }

    [Fact]
    public void A_start_beacon_needs_no_position_and_a_seek_keeps_from()
    {
        var start = Assert.Single(Parse(With("position", null).Replace("\"play\"", "\"start\"")).Beacons);
        var seek = Assert.Single(Parse(With("from", "12.5").Replace("\"play\"", "\"seek\"")).Beacons);

        Assert.Null(start.Position);
        Assert.Equal(12.5, seek.From);
    }

    [Fact]
    public void Numbers_sent_as_strings_are_accepted()
    {
        var beacon = Assert.Single(Parse(With("portalId", "\"4242\"")).Beacons);
        Assert.Equal(4242, beacon.PortalId);
    }

    [Theory]
    [InlineData("portalId", null, "portalId: is required: a positive integer")]
    [InlineData("portalId", "0", "portalId: must be an integer >= 1 (got a number)")]
    [InlineData("portalId", "1.5", "portalId: must be an integer >= 1 (got a number)")]
    [InlineData("portalId", "99999999999999999999999", "portalId: must be an integer >= 1 (got a number)")]
    [InlineData("sessionId", null, "sessionId: is required: a string of 1 to 128 characters")]
    [InlineData("sessionId", "42", "sessionId: must be a string (got a number)")]
    [InlineData("sessionId", "\"\"", "sessionId: must be 1 to 128 characters, not blank (got 0)")]
    [InlineData("sessionId", "\"a\\u0000b\"", "sessionId: must not contain control characters")]
    [InlineData("sessionId", "\"a\\u001fb\"", "sessionId: must not contain control characters")]
    [InlineData("sessionId", "\"a\\u0085b\"", "sessionId: must not contain control characters")]
    [InlineData("seq", "-1", "seq: must be an integer >= 0 (got a number)")]
    [InlineData("event", null, "event: is required: one of start, play, pause, heartbeat, seek, ended, end")]
    [InlineData("event", "\"stop\"", "event: must be one of start, play, pause, heartbeat, seek, ended, end (got a string of 4 characters)")]
    [InlineData("ts", null, "ts: is required: the client's time in milliseconds since the Unix epoch")]
    [InlineData("ts", "1760000000", "ts: must be milliseconds since the Unix epoch (got a time before 2000-01-01: seconds?)")]
    [InlineData("ts", "1760086400001", "ts: is more than 24 h in the future")]
    [InlineData("ts", "\"soon\"", "ts: must be an integer >= 0 (got a string of 4 characters)")]
    [InlineData("position", null, "position: is required: a finite number >= 0 (seconds)")]
    [InlineData("position", "-1", "position: must be a finite number >= 0 (seconds; got a number)")]
    [InlineData("position", "\"NaN\"", "position: must be a finite number >= 0 (seconds; got a string of 3 characters)")]
    [InlineData("position", "1e400", "position: must be a finite number >= 0 (seconds; got a number)")]
    [InlineData("position", "604801", "position: must be at most 604800 seconds (got a number)")]
    [InlineData("from", "3", "from: is only allowed with event \"seek\"")]
    [InlineData("duration", "0", "duration: must be greater than 0 (leave it out while it is unknown)")]
    [InlineData("duration", "true", "duration: must be a finite number >= 0 (seconds; got true or false)")]
    [InlineData("media", "\"v-1\"", "media: must be an object (got a string of 3 characters)")]
    [InlineData("media", "{\"name\":\"x\"}", "media: needs externalId or mediaBridgeId")]
    [InlineData("media", "{\"externalId\":\"v\",\"type\":\"MOVIE\"}", "media.type: must be one of VIDEO, AUDIO, DOCUMENT, IMAGE, OTHER (got a string of 5 characters)")]
    [InlineData("media", "{\"mediaBridgeId\":-4}", "media.mediaBridgeId: must be an integer >= 1 (got a number)")]
    [InlineData("contact", "{}", "contact: needs contactId, utk or email")]
    [InlineData("contact", "{\"utk\":7}", "contact.utk: must be a string (got a number)")]
    [InlineData("page", "{\"name\":\"Home\"}", "page: needs id (a HubSpot page), or name and url (any other page)")]
    [InlineData("context", "\"WEB\"", "context: must be EMAIL or EXTERNAL_PAGE (got a string of 3 characters)")]
    public void Each_rule_names_the_field_and_the_reason(string field, string? json, string expected)
    {
        Assert.Equal(expected, OnlyError(With(field, json)));
    }

    [Theory]
    [InlineData("url", "javascript:alert(document.cookie)", "media.url: must be an https URL (got a javascript: URL)")]
    [InlineData("oembedUrl", "data:text/html,<script>x</script>", "media.oembedUrl: must be an https URL (got a data: URL)")]
    [InlineData("thumbnailUrl", "http://cdn.example.com/t.jpg", "media.thumbnailUrl: must be an https URL (got a http: URL; Beacons__AllowHttpLinks allows http)")]
    [InlineData("detailsUrl", "/films/7", "media.detailsUrl: must be an absolute https URL")]
    public void A_media_link_must_be_an_https_url(string field, string link, string expected)
    {
        Assert.Equal(expected, OnlyError(With("media", $$"""{"externalId":"v","{{field}}":"{{link}}"}""")));
    }

    [Fact]
    public void Plain_http_media_links_pass_where_the_setting_allows_them_and_a_page_may_always_be_http()
    {
        var batch = Parse(With("media", """{"externalId":"v","thumbnailUrl":"http://cdn.example.com/t.jpg"}"""), new BeaconLimits { AllowHttpLinks = true });
        var page = Parse(With("page", """{"name":"Old site","url":"http://www.example.com/"}"""));

        Assert.Equal("http://cdn.example.com/t.jpg", Assert.Single(batch.Beacons).Media!.ThumbnailUrl);
        Assert.Equal("http://www.example.com/", Assert.Single(page.Beacons).Page!.Url);
        Assert.Equal("page.url: must be an http or https URL (got a javascript: URL)", OnlyError(With("page", """{"name":"x","url":"javascript:alert(1)"}""")));
    }

    [Fact]
    public void A_request_naming_more_sessions_than_a_page_plays_is_refused_whole()
    {
        var beacons = Enumerable.Range(0, 21).Select(i => With("sessionId", $"\"made-up-{i}\"")).ToList();
        var twenty = "[" + string.Join(",", beacons.Take(20)) + "]";
        var many = "[" + string.Join(",", beacons) + "]";

        Assert.Equal(20, Parse(twenty).Beacons.Count);
        Assert.Equal("beacons: name 21 sessions; at most 20 are accepted in one request (a page's players send one session each)", OnlyError(many));
    }

    [Fact]
    public void Player_summaries_count_as_the_sessions_they_name()
    {
        // A summary alone makes a session (and a queue message) of its own: 500 of them were 500 sessions past the limit.
        var summaries = Enumerable.Range(0, 21).Select(i => SummaryOf($"summary-only-{i}")).ToList();
        var twenty = $$"""{"events":[{{string.Join(",", summaries.Take(20))}}]}""";
        var many = $$"""{"events":[{{string.Join(",", summaries)}}]}""";

        Assert.Equal(20, Parse(twenty).Summaries.Count);
        Assert.Equal("beacons: name 21 sessions; at most 20 are accepted in one request (a page's players send one session each)", OnlyError(many));
    }

    [Fact]
    public void A_backends_request_is_bounded_by_its_bytes_not_by_a_pages_counts()
    {
        var beacons = Enumerable.Range(0, 600).Select(i => With("sessionId", $"\"backend-{i}\"")).ToList();
        var body = Encoding.UTF8.GetBytes("[" + string.Join(",", beacons) + "]");
        var limits = new BeaconLimits { MaxSourceBodyBytes = body.Length };

        var trusted = new BeaconParser(limits).Parse(body, Now, trusted: true);
        var page = new BeaconParser(limits).Parse(body, Now);
        var tooLarge = new BeaconParser(new BeaconLimits { MaxSourceBodyBytes = body.Length - 1, MaxBodyBytes = 1000 }).Parse(body, Now, trusted: true);

        Assert.True(trusted.IsValid, string.Join("; ", trusted.Errors));
        Assert.Equal(600, trusted.Beacons.Select(b => b.SessionId).Distinct().Count());
        Assert.False(page.IsValid);
        Assert.Equal($"body: is {body.Length} bytes; at most {body.Length - 1} are accepted", Assert.Single(tooLarge.Errors).ToString());
    }

    /// <summary>An mParticle "Media Session Summary" of its own session.</summary>
    private static string SummaryOf(string sessionId) => SummaryEvent.Replace("SESSION", sessionId, StringComparison.Ordinal);

    private const string SummaryEvent = """
        {"event_type":"custom_event","data":{"custom_event_type":"media","event_name":"Media Session Summary","timestamp_unixtime_ms":"1760000000000",
         "custom_attributes":{"media_session_id":"SESSION","hubspot_portal_id":"4242","media_content_time_spent":"31300","media_content_complete":"false"}}}
        """;

    [Fact]
    public void Strings_longer_than_the_limit_are_rejected()
    {
        var error = OnlyError(With("media", $$"""{"externalId":"v","name":"{{new string('x', 2049)}}"}"""));
        Assert.Equal("media.name: is 2049 characters; at most 2048 are accepted", error);
    }

    [Fact]
    public void Session_ids_longer_than_128_characters_are_rejected()
    {
        Assert.Equal("sessionId: must be 1 to 128 characters, not blank (got 129)", OnlyError(With("sessionId", $"\"{new string('s', 129)}\"")));
    }

    [Fact]
    public void Errors_in_a_list_name_the_beacon_by_its_index_and_reject_the_whole_request()
    {
        var bad = With("position", "-3");
        var batch = Parse($"[{Valid},{Valid},{Valid},{bad}]");

        Assert.Empty(batch.Beacons);
        Assert.Equal("beacons[3].position: must be a finite number >= 0 (seconds; got a number)", Assert.Single(batch.Errors).ToString());
    }

    [Theory]
    [InlineData("", "body: is empty; send a beacon, an array of beacons or {\"beacons\":[...]}")]
    [InlineData("{\"portalId\":", "body: is not valid JSON (line 1, byte 13: Expected depth to be zero at the end of the JSON payload)")]
    [InlineData("42", "body: must be a beacon object, an array of beacons, {\"beacons\":[...]} or an mParticle {\"events\":[...]} batch")]
    [InlineData("[]", "beacons: must hold at least one beacon")]
    [InlineData("{\"beacons\":{}}", "beacons: must be an array")]
    [InlineData("[1]", "beacons[0]: must be an object")]
    public void Bodies_of_the_wrong_shape_are_rejected(string body, string expected)
    {
        var error = OnlyError(body);
        Assert.True(error.StartsWith(expected, StringComparison.Ordinal), error);
    }

    [Fact]
    public void Invalid_utf8_is_rejected()
    {
        var bytes = Encoding.UTF8.GetBytes(With("sessionId", "\"ab\"")).ToList();
        var at = Encoding.UTF8.GetString(bytes.ToArray()).IndexOf("\"ab\"", StringComparison.Ordinal) + 1;
        bytes[at] = 0xC3;
        bytes[at + 1] = 0x28;

        var batch = new BeaconParser(new BeaconLimits()).Parse(bytes.ToArray(), Now);

        Assert.Equal("body: is not valid UTF-8", Assert.Single(batch.Errors).ToString());
    }

    [Fact]
    public void A_lone_surrogate_escape_is_rejected_as_invalid_text()
    {
        var batch = Parse(Valid.Replace("\"s-1\"", "\"\\ud800\"", StringComparison.Ordinal));

        Assert.Equal("sessionId: is not valid Unicode text", Assert.Single(batch.Errors).ToString());
    }

    [Fact]
    public void Deep_nesting_is_rejected_before_it_is_walked()
    {
        var body = new string('[', 100) + new string(']', 100);
        Assert.StartsWith("body: is not valid JSON", OnlyError(body));
    }

    [Fact]
    public void Bodies_and_lists_over_their_limits_are_rejected()
    {
        var limits = new BeaconLimits { MaxBodyBytes = 100, MaxBeaconsPerRequest = 2 };

        Assert.StartsWith("body: is", OnlyError(Valid, limits));
        Assert.Equal("beacons: holds 3 items; at most 2 are accepted per request", OnlyError("[{},{},{}]", limits));
    }

    [Fact]
    public void Every_error_of_a_beacon_is_reported()
    {
        var batch = Parse("""{"sessionId":"","event":"nope","ts":1}""");

        Assert.Equal(["portalId", "sessionId", "event", "ts", "position"], batch.Errors.Select(e => e.Field));
    }

    private const string MParticlePlay = """
        {"event_type":"custom_event","data":{"custom_event_type":"media","event_name":"Play","timestamp_unixtime_ms":"1760000000000",
         "custom_attributes":{"content_title":"My sweet media","content_duration":"120000","content_id":"1234567","content_type":"Video",
         "media_session_id":"96a023b8","playhead_position":"110123","hubspot_portal_id":"4242","hubspotutk":"utk-9"}}}
        """;

    [Fact]
    public void An_mparticle_media_event_becomes_a_beacon()
    {
        var beacon = Assert.Single(Parse(MParticlePlay).Beacons);

        Assert.Equal(new Beacon(4242, "96a023b8", BeaconEvent.Play, 1760000000000, null, 110.123, null, 120,
            new MediaInfo("1234567", null, "My sweet media", null, MediaType.Video), new ContactInfo(null, "utk-9")), beacon);
    }

    [Theory]
    [InlineData("Media Session Start", BeaconEvent.Start)]
    [InlineData("Pause", BeaconEvent.Pause)]
    [InlineData("Update Playhead Position", BeaconEvent.Heartbeat)]
    [InlineData("Seek End", BeaconEvent.Seek)]
    [InlineData("Media Content End", BeaconEvent.Ended)]
    [InlineData("Media Session End", BeaconEvent.End)]
    public void Mparticle_event_names_map_to_beacon_events(string name, BeaconEvent expected)
    {
        Assert.Equal(expected, Assert.Single(Parse(MParticlePlay.Replace("\"Play\"", $"\"{name}\"")).Beacons).Event);
    }

    [Fact]
    public void Mparticle_seek_end_jumps_to_the_seek_position_from_the_playhead()
    {
        var body = MParticlePlay.Replace("\"Play\"", "\"Seek End\"").Replace("\"playhead_position\"", "\"seek_position\":\"5000\",\"playhead_position\"");
        var seek = Assert.Single(Parse(body).Beacons);

        Assert.Equal((BeaconEvent.Seek, 5.0, 110.123), (seek.Event, seek.Position!.Value, seek.From!.Value));
    }

    /// <summary>
    /// One viewing as mParticle's web Media SDK (src/session.ts, src/events.ts) sends it: no playhead_position until the
    /// player reports one, seek_position left out for a seek to 0 (a restart), the session summary after the end.
    /// </summary>
    private static string WebMediaSdkBatch(string contentDuration = "120000", string streamType = "OnDemand")
    {
        string Event(string name, long at, string? playhead = null, string? seekPosition = null, string extra = "")
        {
            var attributes = $"\"content_title\":\"Launch demo\",\"content_duration\":\"{contentDuration}\",\"content_id\":\"video-7\","
                + $"\"content_type\":\"Video\",\"stream_type\":\"{streamType}\",\"media_session_id\":\"ms-1\",\"hubspot_portal_id\":\"4242\",\"hubspotutk\":\"utk-9\""
                + (playhead is null ? "" : $",\"playhead_position\":\"{playhead}\"")
                + (seekPosition is null ? "" : $",\"seek_position\":\"{seekPosition}\"")
                + extra;
            return $"{{\"event_type\":\"custom_event\",\"data\":{{\"custom_event_type\":\"media\",\"event_name\":\"{name}\","
                + $"\"timestamp_unixtime_ms\":\"{1760000000000 + at}\",\"custom_attributes\":{{{attributes}}}}}}}";
        }

        return "{\"events\":[" + string.Join(",",
            Event("Media Session Start", 0),
            Event("Play", 100),
            Event("Update Playhead Position", 10_100, "10000"),
            Event("Seek Start", 12_100, "12000", "90000"),
            Event("Seek End", 12_300, "12000", "90000"),
            Event("Update Playhead Position", 22_300, "100000"),
            Event("Seek Start", 23_300, "101000"),
            Event("Seek End", 23_400, "101000"),
            Event("Update Playhead Position", 33_400, "10000"),
            Event("Pause", 34_400, "11000"),
            Event("Media Session End", 35_000, "11000"),
            Event("Media Session Summary", 35_000, "11000", extra: ",\"media_content_time_spent\":\"31300\",\"media_content_complete\":\"false\"")) + "]}";
    }

    [Fact]
    public void The_web_media_sdks_own_batch_parses_first_play_and_a_restart_included()
    {
        var batch = Parse(WebMediaSdkBatch());

        Assert.True(batch.IsValid, string.Join("; ", batch.Errors));
        Assert.Equal(0, batch.Ignored);
        Assert.Equal(new PlaybackSummary(4242, "ms-1", 31.3, false), Assert.Single(batch.Summaries));
        Assert.Equal(
            [(BeaconEvent.Start, null, null), (BeaconEvent.Play, 0, null), (BeaconEvent.Heartbeat, 10, null),
             (BeaconEvent.SeekStart, 12, null), (BeaconEvent.Seek, 90, 12), (BeaconEvent.Heartbeat, 100, null),
             (BeaconEvent.SeekStart, 101, null), (BeaconEvent.Seek, 0, 101), (BeaconEvent.Heartbeat, 10, null),
             (BeaconEvent.Pause, 11, null), (BeaconEvent.End, 11, null)],
            batch.Beacons.Select(b => (b.Event, b.Position, b.From)).ToList<(BeaconEvent, double?, double?)>());
    }

    [Fact]
    public void A_session_summary_without_its_figures_is_ignored_and_refuses_nothing()
    {
        var summary = MParticlePlay.Replace("\"Play\"", "\"Media Session Summary\"");

        var batch = Parse($$"""{"events":[{{MParticlePlay}},{{summary}}]}""");

        Assert.True(batch.IsValid);
        Assert.Single(batch.Beacons);
        Assert.Empty(batch.Summaries);
        Assert.Equal(1, batch.Ignored);
    }

    [Fact]
    public void A_live_stream_has_no_duration_and_says_it_is_live()
    {
        foreach (var batch in new[] { Parse(WebMediaSdkBatch(contentDuration: "0")), Parse(WebMediaSdkBatch(streamType: "LiveStream")) })
        {
            Assert.True(batch.IsValid, string.Join("; ", batch.Errors));
            Assert.All(batch.Beacons, beacon => Assert.Null(beacon.Duration));
            Assert.All(batch.Beacons, beacon => Assert.True(beacon.Media!.Live));
        }
    }

    [Fact]
    public void A_native_beacon_may_say_its_media_is_live()
    {
        var beacon = Assert.Single(Parse("""{"portalId":1,"sessionId":"s","event":"play","ts":1760000000000,"position":0,"media":{"externalId":"tv","live":true}}""").Beacons);

        Assert.True(beacon.Media!.Live);
        Assert.Equal("media.live: must be true or false (got a string of 3 characters)",
            OnlyError("""{"portalId":1,"sessionId":"s","event":"play","ts":1760000000000,"position":0,"media":{"externalId":"tv","live":"yes"}}"""));
    }

    internal static IReadOnlyList<Beacon> WebMediaSdkBeacons(string contentDuration = "120000", string streamType = "OnDemand") =>
        new BeaconParser(new BeaconLimits()).Parse(System.Text.Encoding.UTF8.GetBytes(WebMediaSdkBatch(contentDuration, streamType)), DateTimeOffset.FromUnixTimeMilliseconds(1760000100000)).Beacons;

    [Fact]
    public void A_batch_ignores_and_counts_ads_buffering_qos_and_other_events()
    {
        var adStart = MParticlePlay.Replace("\"Play\"", "\"Ad Start\"");
        var buffer = MParticlePlay.Replace("\"Play\"", "\"Buffer Start\"");
        var screenView = """{"event_type":"screen_view","data":{"screen_name":"home"}}""";
        var batch = Parse($$"""{"events":[{{MParticlePlay}},{{adStart}},{{buffer}},{{screenView}}]}""");

        Assert.Single(batch.Beacons);
        Assert.Equal(3, batch.Ignored);
    }

    [Fact]
    public void Mparticle_events_take_the_default_portal_when_they_carry_none()
    {
        var body = MParticlePlay.Replace("\"hubspot_portal_id\":\"4242\",", "");

        Assert.Equal("events[0].data.custom_attributes.hubspot_portal_id: is required (or configure Beacons__DefaultPortalId)", OnlyError($$"""{"events":[{{body}}]}"""));
        Assert.Equal(77, Assert.Single(Parse(body, new BeaconLimits { DefaultPortalId = 77 }).Beacons).PortalId);
    }

    [Fact]
    public void Mparticle_errors_name_the_attribute()
    {
        var body = MParticlePlay.Replace("\"110123\"", "\"later\"").Replace("\"media_session_id\":\"96a023b8\",", "");
        var errors = Parse(body).Errors.Select(e => e.ToString()).ToList();

        Assert.Equal([
            "data.custom_attributes.media_session_id: is required: a string of 1 to 128 characters",
            "data.custom_attributes.playhead_position: must be a finite number >= 0 (milliseconds; got a string of 5 characters)",
        ], errors);
    }
}
