using System.Text;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.IntegrationTests;

/// <summary>A session's beacons as a player would post them, and the events the core says they must produce.</summary>
/// <remarks>Seq numbers count from <paramref name="firstSeq"/>; the session's media, contact and page ride on beacon <paramref name="identityAt"/>.</remarks>
/// <remarks>The contact is the session's own utk unless <paramref name="contact"/> names another (as the beacon's JSON).</remarks>
public sealed class SessionBeacons(long portalId, string sessionId, double duration = 40, string? media = null, int firstSeq = 0, int identityAt = 0, string? contact = null)
{
    public const string DefaultMedia = """{"externalId":"video-42","name":"Product tour","url":"https://cdn.example.com/tour.mp4","type":"VIDEO"}""";

    private static readonly long T0 = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds();
    private readonly List<string> _beacons = [];

    public string SessionId => sessionId;

    public IReadOnlyList<string> Beacons => _beacons;

    public SessionBeacons Add(string beaconEvent, double wallSeconds, double? position, double? from = null)
    {
        var seq = firstSeq + _beacons.Count;
        var fields = new List<string>
        {
            $"\"portalId\":{portalId}", $"\"sessionId\":\"{sessionId}\"", $"\"seq\":{seq}", $"\"event\":\"{beaconEvent}\"",
            $"\"ts\":{T0 + (long)(wallSeconds * 1000)}",
        };
        if (position is { } p)
            fields.Add(FormattableString.Invariant($"\"position\":{p}"));
        if (from is { } f)
            fields.Add(FormattableString.Invariant($"\"from\":{f}"));
        if (_beacons.Count == identityAt)
        {
            fields.Add(FormattableString.Invariant($"\"duration\":{duration}"));
            fields.Add("\"media\":" + (media ?? DefaultMedia));
            fields.Add("\"contact\":" + (contact ?? "{\"utk\":\"utk-" + sessionId + "\"}"));
            fields.Add("\"page\":{\"name\":\"Tour\",\"url\":\"https://example.com/tour\"}");
        }

        _beacons.Add("{" + string.Join(",", fields) + "}");
        return this;
    }

    /// <summary>Watches 0-12 s, seeks back to 4, watches to 24, pauses, resumes to the end and leaves.</summary>
    public static SessionBeacons Typical(long portalId, string sessionId, bool withEnd = true, string? media = null, string? contact = null)
    {
        var session = new SessionBeacons(portalId, sessionId, media: media, contact: contact)
            .Add("start", 0, null).Add("play", 0.5, 0).Add("heartbeat", 10.5, 10).Add("seek", 12.5, 4, from: 12)
            .Add("heartbeat", 22.5, 14).Add("pause", 32.5, 24).Add("play", 40, 24).Add("heartbeat", 50, 34).Add("ended", 56, 40);
        return withEnd ? session.Add("end", 57, 40) : session;
    }

    public static string Json(IEnumerable<string> beacons) => "[" + string.Join(",", beacons) + "]";

    public StringContent Content(IEnumerable<string>? beacons = null) =>
        new(Json(beacons ?? _beacons), Encoding.UTF8, "text/plain");

    /// <summary>
    /// The events the core decides for these beacons in order, one at a time, closing by end or else by idle timeout;
    /// payloads in <see cref="CanonicalJson"/> form, as <see cref="ReceivedEvent.ProviderPayload"/>.
    /// </summary>
    public List<(string Key, string Payload)> ExpectedEvents()
    {
        var options = new FunctionsRelay.Domain.Sessions.SessionOptions();
        var parsed = new BeaconParser(new BeaconLimits()).Parse(Encoding.UTF8.GetBytes(Json(_beacons)), DateTimeOffset.UtcNow);
        Assert.True(parsed.IsValid, string.Join("; ", parsed.Errors));
        return EventPlanner.Replay(portalId, sessionId, parsed.Beacons, options).Select(e => (e.Key, CanonicalJson.Of(e.Payload))).ToList();
    }
}
