using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Benchmarks;

/// <summary>Parsing and validating request bodies, per beacon.</summary>
[MemoryDiagnoser]
public class ParseBenchmarks
{
    private readonly BeaconParser _parser = new(new BeaconLimits());
    private readonly DateTimeOffset _now = DateTimeOffset.FromUnixTimeMilliseconds(Viewers.Epoch + 3_600_000);
    private byte[] _native = [];
    private byte[] _nativeBatch = [];
    private byte[] _mParticle = [];

    [GlobalSetup]
    public void Setup()
    {
        var beacons = Viewers.Session(4242, "6f1c2a8e-9d5b-4c1e-8a3f-2b7d9e0c4a11", 7, 600, new Random(1), ends: false);
        _native = Single(beacons[0]);
        _nativeBatch = Viewers.Envelope(beacons.Skip(2).Take(5));
        _mParticle = Encoding.UTF8.GetBytes("""
            {"event_type":"custom_event","data":{"custom_event_type":"media","event_name":"Play",
             "timestamp_unixtime_ms":"1763900000000",
             "custom_attributes":{"media_session_id":"96a023b8-b0c7-47b7-b687-09f73b9dfac3","content_id":"1234567",
               "content_title":"My sweet media","content_type":"Video","content_duration":"120000","playhead_position":"0",
               "hubspot_portal_id":"4242","hubspotutk":"8f4f2c0d5e7a4b1c9d3e6f8a0b2c4d6e"}}}
            """);
        foreach (var (body, beaconCount) in new[] { (_native, 1), (_nativeBatch, 5), (_mParticle, 1) })
        {
            var parsed = _parser.Parse(body, _now);
            if (parsed.Beacons.Count != beaconCount)
                throw new InvalidOperationException($"a benchmark body is invalid: {string.Join("; ", parsed.Errors)}");
        }
    }

    /// <summary>A full first beacon: media, contact, page and context.</summary>
    [Benchmark]
    public int NativeBeacon() => _parser.Parse(_native, _now).Beacons.Count;

    /// <summary>Five heartbeats in one envelope, as the player script batches them; time per beacon.</summary>
    [Benchmark(OperationsPerInvoke = 5)]
    public int NativeBatchOf5PerBeacon() => _parser.Parse(_nativeBatch, _now).Beacons.Count;

    [Benchmark]
    public int MParticleEvent() => _parser.Parse(_mParticle, _now).Beacons.Count;

    private static byte[] Single(Beacon beacon)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
            Viewers.Write(json, beacon);
        return buffer.ToArray();
    }
}

/// <summary>
/// Merging one new beacon into a session that already holds <see cref="LogSize"/> beacons, and deciding the events it
/// makes due: what the session processor does in memory for each beacon. Each iteration reads the stored session afresh
/// (outside the measurement) and merges the next 16 beacons into it, as a message of a few batches would.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(FullyOptimizedConfig))]
public class MergeBenchmarks
{
    private const int Merges = 16;
    private readonly SessionOptions _options = new();
    private SessionSnapshot _snapshot = null!;
    private Beacon[] _next = [];
    private ViewingSession _session = null!;

    [Params(72, 720)]
    public int LogSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var beacons = Viewers.Session(4242, "merge-session", LogSize + Merges, duration: LogSize * 12.0, new Random(7), ends: false);
        var session = Viewers.Merge(beacons.Take(LogSize));
        EventPlanner.Decide(session, _options);
        foreach (var pending in session.Outbox.ToList())
            session.MarkDelivered(pending.Key);
        _snapshot = SessionCodec.Encode(session);
        _next = beacons.Skip(LogSize).ToArray();
    }

    [IterationSetup(Target = nameof(MergeAndDecide))]
    public void ReadSession() => _session = SessionCodec.Decode(4242, "merge-session", _snapshot);

    /// <summary>The next beacons of the session, one by one, each merged and its events decided; time per beacon.</summary>
    [Benchmark(OperationsPerInvoke = Merges)]
    public int MergeAndDecide()
    {
        var decided = 0;
        foreach (var beacon in _next)
        {
            _session.Merge(beacon, beacon.Ts, _options.MaxLogEntries);
            decided += EventPlanner.Decide(_session, _options).Count;
        }

        return decided;
    }

    /// <summary>The whole message in the processor's hands: read the stored session, merge, decide, write it back.</summary>
    [Benchmark]
    public int DecodeMergeDecideEncode()
    {
        var session = SessionCodec.Decode(4242, "merge-session", _snapshot);
        session.Merge(_next[0], _next[0].Ts, _options.MaxLogEntries);
        EventPlanner.Decide(session, _options);
        return SessionCodec.Encode(session).Log.Length;
    }
}

/// <summary>A 2-hour media watched with heartbeats every 10 s, seeks and rewatches: its attention span over 1000 spans.</summary>
[MemoryDiagnoser]
public class AttentionSpanBenchmarks
{
    private LogEntry[] _log = [];

    [GlobalSetup]
    public void Setup() => _log = [.. Viewers.Merge(Viewers.Session(4242, "two-hours", 760, duration: 7200, new Random(3))).Log];

    [Benchmark]
    public int TwoHourAttentionSpan()
    {
        var span = Playback.AttentionSpan(Playback.Passes(Playback.Intervals(_log)), 7200, 1000);
        return span.Counts.Length + span.RawDataString.Length;
    }
}

/// <summary>A 2-hour session's stored state (720 beacons): to and from the Table Storage entity's form.</summary>
[MemoryDiagnoser]
public class SessionStateBenchmarks
{
    private ViewingSession _session = null!;
    private SessionSnapshot _snapshot = null!;

    [GlobalSetup]
    public void Setup()
    {
        _session = Viewers.Merge(Viewers.Session(4242, "two-hours", 720, duration: 7200, new Random(5), ends: false));
        EventPlanner.Decide(_session, new SessionOptions());
        _snapshot = SessionCodec.Encode(_session);
    }

    [Benchmark]
    public int Serialize() => SessionCodec.Encode(_session).Log.Length;

    [Benchmark]
    public int Deserialize() => SessionCodec.Decode(4242, "two-hours", _snapshot).Log.Count;
}

/// <summary>
/// MergeAndDecide needs a fresh session per iteration (IterationSetup, one invocation each), too few calls for tiered
/// compilation to reach optimized code during warmup; so this class runs fully optimized from the first call.
/// </summary>
public sealed class FullyOptimizedConfig : ManualConfig
{
    public FullyOptimizedConfig() =>
        AddJob(Job.Default.WithEnvironmentVariables(new EnvironmentVariable("DOTNET_TieredCompilation", "0")).WithId("FullJit"));
}
