using System.Text.Json;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Benchmarks;

/// <summary>
/// Beacons as real viewers send them, for the benchmarks and the load test: a start and a play, a heartbeat every
/// <c>heartbeatSeconds</c> of wall-clock time, now and then a seek back (a rewatch) or forward, an <c>ended</c> at the end
/// and an <c>end</c> unless the viewer just goes away. Seeded, so a run can be repeated exactly.
/// </summary>
public static class Viewers
{
    public const long Epoch = 1_763_900_000_000;

    public static readonly MediaInfo Media = new("bench-video", null, "Benchmark video", "https://cdn.example.com/bench.mp4", MediaType.Video);
    public static readonly PageInfo Page = new(null, "Watch", "https://example.com/watch");

    /// <param name="beaconCount">Stops after this many beacons (the last is <c>end</c> when <paramref name="ends"/>).</param>
    public static List<Beacon> Session(long portalId, string sessionId, int beaconCount, double duration, Random random,
        double heartbeatSeconds = 10, bool ends = true, long startTs = Epoch, MediaInfo? media = null)
    {
        media ??= Media;
        var beacons = new List<Beacon>(beaconCount);
        var contact = new ContactInfo(null, "utk-" + sessionId);
        var wall = 0.0;
        var position = 0.0;
        void Add(BeaconEvent e, double? at, double? from = null) => beacons.Add(new Beacon(
            portalId, sessionId, e, startTs + (long)Math.Round(wall * 1000), beacons.Count, at is null ? null : Math.Round(at.Value, 3),
            from is null ? null : Math.Round(from.Value, 3), duration,
            beacons.Count == 0 ? media : null, beacons.Count == 0 ? contact : null, beacons.Count == 0 ? Page : null,
            beacons.Count == 0 ? PlayContext.ExternalPage : null));

        Add(BeaconEvent.Start, null);
        Add(BeaconEvent.Play, 0);
        var last = ends ? beaconCount - 1 : beaconCount;
        while (beacons.Count < last)
        {
            wall += heartbeatSeconds;
            position = Math.Min(position + heartbeatSeconds, duration);
            var roll = random.NextDouble();
            if (position >= duration)
            {
                Add(BeaconEvent.Ended, duration);
                if (beacons.Count < last)
                {
                    position = random.NextDouble() * duration / 2; // watch part of it again
                    Add(BeaconEvent.Seek, position, duration);
                }

                if (beacons.Count < last)
                    Add(BeaconEvent.Play, position);
            }
            else if (roll < 0.03)
            {
                var to = random.NextDouble() * duration;
                Add(BeaconEvent.Seek, to, position);
                position = to;
            }
            else
            {
                Add(BeaconEvent.Heartbeat, position);
            }
        }

        if (ends)
            Add(BeaconEvent.End, position);
        return beacons;
    }

    /// <summary>Beacons as a player posts them: <c>{"beacons": [...]}</c> in the native contract (docs/beacons.md).</summary>
    public static byte[] Envelope(IEnumerable<Beacon> beacons)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("beacons");
            foreach (var beacon in beacons)
                Write(json, beacon);
            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static void Write(Utf8JsonWriter json, Beacon beacon)
    {
        json.WriteStartObject();
        json.WriteNumber("portalId", beacon.PortalId);
        json.WriteString("sessionId", beacon.SessionId);
        if (beacon.Seq is { } seq)
            json.WriteNumber("seq", seq);
        json.WriteString("event", beacon.Event.ToString().ToLowerInvariant());
        json.WriteNumber("ts", beacon.Ts);
        if (beacon.Position is { } position)
            json.WriteNumber("position", position);
        if (beacon.From is { } from)
            json.WriteNumber("from", from);
        if (beacon.Duration is { } duration)
            json.WriteNumber("duration", duration);
        if (beacon.Media is { } media)
        {
            json.WriteStartObject("media");
            json.WriteString("externalId", media.ExternalId);
            json.WriteString("name", media.Name);
            json.WriteString("url", media.Url);
            json.WriteString("type", media.Type?.ToString().ToUpperInvariant());
            json.WriteEndObject();
        }

        if (beacon.Contact?.Utk is { } utk)
        {
            json.WriteStartObject("contact");
            json.WriteString("utk", utk);
            json.WriteEndObject();
        }

        if (beacon.Page is { } page)
        {
            json.WriteStartObject("page");
            json.WriteString("name", page.Name);
            json.WriteString("url", page.Url);
            json.WriteEndObject();
        }

        if (beacon.Context is not null)
            json.WriteString("context", "EXTERNAL_PAGE");
        json.WriteEndObject();
    }

    /// <summary>A session holding these beacons, merged in order.</summary>
    public static ViewingSession Merge(IEnumerable<Beacon> beacons, int maxLogEntries = 20_000)
    {
        ViewingSession? session = null;
        foreach (var beacon in beacons)
        {
            session ??= new ViewingSession(beacon.PortalId, beacon.SessionId);
            session.Merge(beacon, beacon.Ts, maxLogEntries);
        }

        return session ?? throw new ArgumentException("no beacons", nameof(beacons));
    }
}
