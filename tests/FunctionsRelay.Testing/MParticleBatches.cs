using System.Text;
using System.Text.Json;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;
using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Testing;

/// <summary>
/// Event batches as mParticle's Webhook output forwards them (mParticle's JSON reference, "Differences between incoming
/// and outgoing JSON": <c>user_identities</c> an array of <c>{identity_type, identity, timestamp_unixtime_ms}</c>,
/// <c>batch_id</c>, <c>message_id</c>, a batch timestamp), of a viewer watching on a Roku. Every media attribute is a
/// string, as the Roku SDK sends only string attributes (<c>mParticleCore.brs</c>, <c>sendMediaMessage</c>); its Seek
/// Start and Seek End lose <c>seek_position</c> for that reason.
/// </summary>
public static class MParticleBatches
{
    public const string ContentId = "episode-7";

    public const string Title = "Episode 7: The Return";

    /// <summary>
    /// A Roku viewer's whole session of a 60 s episode: start, play, playhead updates, a pause, a seek back from 30 s (read
    /// as a seek to 0, its position being lost), content end, session end and the session summary.
    /// </summary>
    public static Dictionary<string, object?> RokuSession(string sessionId, long startMs, string? email = null, string? utk = null, string? customerId = "cust-88")
    {
        var events = new List<object>();
        var message = 0;
        void Media(string name, long offsetMs, long? playheadMs, Dictionary<string, string>? more = null)
        {
            var attributes = new Dictionary<string, string>
            {
                ["media_session_id"] = sessionId,
                ["content_title"] = Title,
                ["content_id"] = ContentId,
                ["content_duration"] = "60000",
                ["stream_type"] = "OnDemand",
                ["content_type"] = "Video",
            };
            if (playheadMs is { } playhead)
                attributes["playhead_position"] = playhead.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var (key, value) in more ?? [])
                attributes[key] = value;
            events.Add(new Dictionary<string, object>
            {
                ["event_type"] = "custom_event",
                ["message_type"] = 4,
                ["message_id"] = $"{sessionId}-{message++}",
                ["data"] = new Dictionary<string, object>
                {
                    ["event_name"] = name,
                    ["custom_event_type"] = "media",
                    ["timestamp_unixtime_ms"] = startMs + offsetMs,
                    ["event_start_unixtime_ms"] = startMs + offsetMs,
                    ["session_uuid"] = "DDFBEA89-9A54-41C3-97F3-334FDD3B98BC",
                    ["custom_attributes"] = attributes,
                },
            });
        }

        Media("Media Session Start", 0, 0);
        Media("Play", 1_000, 0);
        Media("Update Playhead Position", 11_000, 10_000);
        Media("Update Playhead Position", 21_000, 20_000);
        Media("Pause", 26_000, 25_000);
        Media("Play", 28_000, 25_000);
        Media("Seek Start", 33_000, 30_000);
        Media("Seek End", 34_000, 30_000);
        Media("Update Playhead Position", 44_000, 10_000);
        Media("Update Playhead Position", 54_000, 20_000);
        Media("Update Playhead Position", 64_000, 30_000);
        Media("Update Playhead Position", 74_000, 40_000);
        Media("Update Playhead Position", 84_000, 50_000);
        Media("Media Content End", 94_000, 60_000);
        Media("Media Session End", 95_000, 60_000);
        Media("Media Session Summary", 95_500, null, new()
        {
            ["media_session_start_time"] = startMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["media_content_time_spent"] = "85000",
            ["media_content_complete"] = "true",
        });
        events.Add(new Dictionary<string, object>
        {
            ["event_type"] = "screen_view",
            ["data"] = new Dictionary<string, object> { ["screen_name"] = "Episode", ["timestamp_unixtime_ms"] = startMs },
        });

        var identities = new List<object>();
        if (email is not null)
            identities.Add(new { identity_type = "email", identity = email, timestamp_unixtime_ms = startMs - 86_400_000 });
        if (customerId is not null)
            identities.Add(new { identity_type = "customer_id", identity = customerId, timestamp_unixtime_ms = startMs - 86_400_000 });
        var userAttributes = new Dictionary<string, object> { ["plan"] = "premium" };
        if (utk is not null)
            userAttributes["hubspotutk"] = utk;
        return new Dictionary<string, object?>
        {
            ["events"] = events,
            ["batch_id"] = Random.Shared.NextInt64(1, long.MaxValue),
            ["source_request_id"] = Guid.NewGuid().ToString(),
            ["environment"] = "production",
            ["timestamp_unixtime_ms"] = startMs + 96_000,
            ["mpid"] = 6_440_247_138_403_031_276,
            ["device_info"] = new { platform = "Roku", brand = "Roku", product = "3941X", os_version = "12.5.0" },
            ["application_info"] = new { application_name = "Stream TV", application_version = "3.1.0", package = "dev" },
            ["user_identities"] = identities,
            ["user_attributes"] = userAttributes,
        };
    }

    public static string Json(object batchOrBatches) => JsonSerializer.Serialize(batchOrBatches);

    /// <summary>
    /// The events the relay owes for a batch's session by the core's own rules, for the viewer HubSpot knows as
    /// <paramref name="contactId"/>, in the stand-in's canonical form.
    /// </summary>
    public static List<(string Key, string Payload)> ExpectedEvents(long portalId, string sessionId, object batch, long contactId)
    {
        var parsed = new BeaconParser(new BeaconLimits()).ParseMParticleBatches(Encoding.UTF8.GetBytes(Json(batch)), DateTimeOffset.UtcNow, portalId);
        Assert.True(parsed.IsValid, string.Join("; ", parsed.Errors));
        return EventPlanner.Replay(portalId, sessionId, parsed.Beacons.Where(b => b.SessionId == sessionId).ToList(), new FunctionsRelay.Domain.Sessions.SessionOptions())
            .Select(e => (e.Key, CanonicalJson.Of(MediaEventPayload.WithContactId(e.Payload, contactId))))
            .ToList();
    }
}
