using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.Sources;

/// <summary>What one request's body yields while it is read: its beacons, its players' summaries, what was ignored, and the errors.</summary>
internal sealed class BeaconReading(BeaconLimits limits, long latestTs, bool trusted)
{
    public List<Beacon> Beacons { get; } = [];

    public List<PlaybackSummary> Summaries { get; } = [];

    public JsonFields Fields { get; } = new(limits, latestTs);

    /// <summary>A backend's request: not held to a page's counts of beacons and sessions.</summary>
    public bool Trusted => trusted;

    public int Ignored { get; set; }

    public int BatchesWithoutMedia { get; set; }

    /// <summary>Beacons, summaries and ignored events read so far: what a page's count of beacons a request bounds.</summary>
    public int ItemsRead => Ignored + Beacons.Count + Summaries.Count;

    public BeaconBatch ToBatch()
    {
        if (Fields.Errors.Count == 0 && !trusted && SessionCount() is var sessions && sessions > limits.MaxSessionsPerRequest)
            Fields.Error("beacons", $"name {sessions} sessions; at most {limits.MaxSessionsPerRequest} are accepted in one request (a page's players send one session each)");
        return Fields.Errors.Count > 0
            ? new BeaconBatch([], 0, Fields.Errors)
            : new BeaconBatch(Beacons, Ignored, []) { Summaries = Summaries, BatchesWithoutMedia = BatchesWithoutMedia };
    }

    /// <summary>The sessions the request names: those of its beacons and those of its players' summaries (each would be a session and a queue message of its own).</summary>
    private int SessionCount()
    {
        if (Beacons.Count + Summaries.Count <= limits.MaxSessionsPerRequest)
            return Beacons.Count + Summaries.Count;
        var sessions = new HashSet<(long, string)>();
        foreach (var beacon in Beacons)
            sessions.Add((beacon.PortalId, beacon.SessionId));
        foreach (var summary in Summaries)
            sessions.Add((summary.PortalId, summary.SessionId));
        return sessions.Count;
    }
}
