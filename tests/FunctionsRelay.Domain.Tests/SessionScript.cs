using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.Tests;

/// <summary>Writes a session's beacons the way a player would send them: wall-clock offsets and playhead positions in seconds.</summary>
internal sealed class SessionScript(double duration = 10, string sessionId = "session-1")
{
    public const long PortalId = 4242;
    public const long T0 = 1_760_000_000_000;

    public static readonly MediaInfo Media = new("video-7", null, "Launch demo", "https://cdn.example.com/demo.mp4", MediaType.Video);
    public static readonly ContactInfo Contact = new(null, "utk-abc");
    public static readonly PageInfo Page = new(null, "Pricing", "https://example.com/pricing");

    private readonly List<Beacon> _beacons = [];
    private long _seq;

    public bool Numbered { get; init; } = true;

    public IReadOnlyList<Beacon> Beacons => _beacons;

    public SessionScript Add(BeaconEvent beaconEvent, double wallSeconds, double? position, double? from = null)
    {
        _beacons.Add(new Beacon(
            PortalId, sessionId, beaconEvent, T0 + (long)Math.Round(wallSeconds * 1000), Numbered ? _seq++ : null,
            position, from, duration, Media, Contact, Page, PlayContext.ExternalPage));
        return this;
    }

    public SessionScript Start(double at) => Add(BeaconEvent.Start, at, null);

    public SessionScript Play(double at, double position) => Add(BeaconEvent.Play, at, position);

    public SessionScript Pause(double at, double position) => Add(BeaconEvent.Pause, at, position);

    public SessionScript Heartbeat(double at, double position) => Add(BeaconEvent.Heartbeat, at, position);

    public SessionScript Seek(double at, double from, double to) => Add(BeaconEvent.Seek, at, to, from);

    public SessionScript SeekStart(double at, double position) => Add(BeaconEvent.SeekStart, at, position);

    public SessionScript Ended(double at, double position) => Add(BeaconEvent.Ended, at, position);

    public SessionScript End(double at, double position) => Add(BeaconEvent.End, at, position);

    public static long Ts(double wallSeconds) => T0 + (long)Math.Round(wallSeconds * 1000);

    /// <summary>A session holding these beacons, merged in the given order, received at the time of the last one.</summary>
    public static ViewingSession Merge(IEnumerable<Beacon> beacons, SessionOptions? options = null)
    {
        ViewingSession? session = null;
        foreach (var beacon in beacons)
        {
            session ??= new ViewingSession(beacon.PortalId, beacon.SessionId);
            session.Merge(beacon, receivedAt: beacon.Ts, (options ?? new SessionOptions()).MaxLogEntries);
        }

        return session ?? throw new ArgumentException("no beacons", nameof(beacons));
    }

    public ViewingSession Merge(SessionOptions? options = null) => Merge(_beacons, options);
}
