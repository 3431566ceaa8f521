using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace FunctionsRelay.LoadTest;

/// <summary>What a load test run does: each option replaces its default (docs/performance.md lists them).</summary>
public sealed record LoadOptions
{
    public int Sessions { get; init; } = 2000;
    public int Portals { get; init; } = 50;
    public int Batch { get; init; } = 5;
    public int MinBeacons { get; init; } = 12;
    public int MaxBeacons { get; init; } = 60;
    public double NeverEndShare { get; init; } = 0.1;
    /// <summary>Beacons per second all players together offer, on average: sessions start evenly spread to make it so.</summary>
    public int Rate { get; init; } = 150;

    /// <summary>A player's 10 s heartbeat, compressed (10x by default).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Sessions start evenly over this window, so that together they offer <see cref="Rate"/> beacons/s.</summary>
    public double RampSeconds => (double)Sessions * (MinBeacons + MaxBeacons) / 2 / Rate;
    /// <summary>30 minutes in production; here long enough that no queue delay of the run closes a session early.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(45);
    public int Connections { get; init; } = 256;

    /// <summary>The local host's queue listener: messages fetched at once, and in flight before it fetches more.</summary>
    public int QueueBatch { get; init; } = 32;
    public bool Faults { get; init; }

    /// <summary>With <see cref="Faults"/>: leave Azurite running (to tell the relay's losses from the storage emulator's).</summary>
    public bool KeepStorage { get; init; }
    public int BadInput { get; init; }
    public int RawWorkers { get; init; } = 32;
    public TimeSpan RawDuration { get; init; } = TimeSpan.FromSeconds(10);
    public int Seed { get; init; } = 1;

    /// <summary>The relay's own log level in the run's log file (Information shows every merge and delivery).</summary>
    public string RelayLogLevel { get; init; } = "Warning";

    /// <summary>Every decision of the relay's HubSpot pacer in its log (Debug): which rank waited where, and for how long.</summary>
    public bool PacerLog { get; init; }

    /// <summary>Relay processes on the one storage account, each on its own port; players are spread over them.</summary>
    public int Instances { get; init; } = 1;

    /// <summary>HubSpot's per-account limit per 10 s over every instance (the stand-in answers 429 past it); none: unlimited.</summary>
    public int? HubSpotLimit { get; init; }

    /// <summary>The relay's own pace per portal (<c>HubSpot__RequestsPerTenSeconds</c>); none: its default.</summary>
    public int? Pace { get; init; }

    /// <summary><c>HubSpot__Budget</c>: Shared (one bucket per portal for every instance) or Instance (each alone).</summary>
    public string Budget { get; init; } = "Shared";

    /// <summary>Media objects each portal already holds before the run (a provider's catalogue), none of them played.</summary>
    public int ExistingObjects { get; init; }

    /// <summary>Distinct media each portal's sessions play (none: one media for every session).</summary>
    public int NewMedia { get; init; }

    /// <summary>A stranger with portal 1000's page key sends made-up sessions beside the players (<see cref="LoadTest.Stranger"/>).</summary>
    public bool Stranger { get; init; }

    /// <summary>The stranger's requests per second, 20 sessions each.</summary>
    public double StrangerRate { get; init; } = 0.4;

    /// <summary>The portal whose page key the stranger holds: 1000 (the real viewers' first portal), or one of his own.</summary>
    public long StrangerPortal { get; init; } = 1000;

    /// <summary>SIGKILL one instance halfway and start it again.</summary>
    public bool KillOne { get; init; }

    /// <summary>
    /// The options as given (each replaces its default), or null, with the problems (or the help) written out: a wrong
    /// command line runs nothing.
    /// </summary>
    public static LoadOptions? Parse(string[] args, TextWriter output)
    {
        var defaults = new LoadOptions();
        var sessions = Number("--sessions", defaults.Sessions, "sessions the players play");
        var portals = Number("--portals", defaults.Portals, "HubSpot accounts the sessions are spread over");
        var batch = Number("--batch", defaults.Batch, "beacons per request");
        var beacons = new Option<(int Min, int Max)>("--beacons")
        {
            Description = "beacons per session, min-max",
            DefaultValueFactory = _ => (defaults.MinBeacons, defaults.MaxBeacons),
            CustomParser = result => result.Tokens[0].Value.Split('-') is [var min, var max]
                && int.TryParse(min, NumberStyles.None, CultureInfo.InvariantCulture, out var low)
                && int.TryParse(max, NumberStyles.None, CultureInfo.InvariantCulture, out var high) && low >= 2 && high >= low
                    ? (low, high)
                    : Refuse<(int, int)>(result, "--beacons takes min-max, e.g. 12-60"),
        };
        var neverEnd = Share("--never-end", defaults.NeverEndShare, "the share of sessions that never send end");
        var rate = Number("--rate", defaults.Rate, "beacons per second all players together offer");
        var heartbeat = Number("--heartbeat-ms", (int)defaults.HeartbeatInterval.TotalMilliseconds, "a player's 10 s heartbeat, compressed");
        var idleTimeout = Number("--idle-timeout-s", (int)defaults.IdleTimeout.TotalSeconds, "the relay's idle timeout");
        var connections = Number("--connections", defaults.Connections, "the players' HTTP connections");
        var queueBatch = Number("--queue-batch", defaults.QueueBatch, "the queue listener's batch");
        var faults = new Option<bool>("--faults") { Description = "kill and restart the relay and storage, and HubSpot's 429s and outages (docs/reliability.md)" };
        var keepStorage = new Option<bool>("--keep-storage") { Description = "with --faults: leave Azurite running" };
        var badInput = Number("--bad-input", defaults.BadInput, "hostile requests sent first", minimum: 0);
        var rawWorkers = Number("--raw-workers", defaults.RawWorkers, "workers of the storage limit measured after the run");
        var rawSeconds = Number("--raw-seconds", (int)defaults.RawDuration.TotalSeconds, "how long the storage limit is measured");
        var seed = Number("--seed", defaults.Seed, "the players' random seed", minimum: 0);
        var relayLog = new Option<string>("--relay-log") { Description = "the relay's log level in its log file (Information: every merge and delivery)", DefaultValueFactory = _ => defaults.RelayLogLevel };
        relayLog.AcceptOnlyFromAmong("Trace", "Debug", "Information", "Warning", "Error", "Critical", "None");
        var pacerLog = new Option<bool>("--pacer-log") { Description = "every decision of the HubSpot pacer in the relay's log: which rank waited where, and how long" };
        var instances = Number("--instances", defaults.Instances, "relay processes on the one storage account");
        var hubSpotLimit = Optional("--hubspot-limit", "HubSpot's per-account limit per 10 s over every instance (none: unlimited)");
        var pace = Optional("--pace", "the relay's pace per portal (HubSpot__RequestsPerTenSeconds)");
        var budget = new Option<string>("--budget") { Description = "HubSpot__Budget", DefaultValueFactory = _ => defaults.Budget };
        budget.AcceptOnlyFromAmong("Shared", "Instance");
        var killOne = new Option<bool>("--kill-one") { Description = "SIGKILL one instance halfway and start it again" };
        var stranger = new Option<bool>("--stranger") { Description = "a stranger with a portal's page key sends made-up sessions beside the players" };
        var strangerRate = Share("--stranger-rate", defaults.StrangerRate, "the stranger's requests per second (implies --stranger)", maximum: 100);
        var strangerPortal = Number("--stranger-portal", (int)defaults.StrangerPortal, "the portal whose page key the stranger holds (implies --stranger)");
        var existingObjects = Number("--existing-objects", defaults.ExistingObjects, "media objects each portal holds before the run", minimum: 0);
        var newMedia = Number("--new-media", defaults.NewMedia, "distinct media each portal's sessions play", minimum: 0);

        var root = new RootCommand("The FunctionsRelay load test (docs/performance.md)")
        {
            sessions, portals, batch, beacons, neverEnd, rate, heartbeat, idleTimeout, connections, queueBatch, faults, keepStorage, badInput, rawWorkers,
            rawSeconds, seed, relayLog, pacerLog, instances, hubSpotLimit, pace, budget, killOne, stranger, strangerRate, strangerPortal, existingObjects, newMedia,
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 || parsed.Action is not null)
        {
            foreach (var error in parsed.Errors)
                output.WriteLine($"load test: {error.Message}");
            if (parsed.Errors.Count == 0)
                parsed.Invoke(new InvocationConfiguration { Output = output });
            return null;
        }

        return new LoadOptions
        {
            Sessions = parsed.GetValue(sessions),
            Portals = parsed.GetValue(portals),
            Batch = parsed.GetValue(batch),
            MinBeacons = parsed.GetValue(beacons).Min,
            MaxBeacons = parsed.GetValue(beacons).Max,
            NeverEndShare = parsed.GetValue(neverEnd),
            Rate = parsed.GetValue(rate),
            HeartbeatInterval = TimeSpan.FromMilliseconds(parsed.GetValue(heartbeat)),
            IdleTimeout = TimeSpan.FromSeconds(parsed.GetValue(idleTimeout)),
            Connections = parsed.GetValue(connections),
            QueueBatch = parsed.GetValue(queueBatch),
            Faults = parsed.GetValue(faults),
            KeepStorage = parsed.GetValue(keepStorage),
            BadInput = parsed.GetValue(badInput),
            RawWorkers = parsed.GetValue(rawWorkers),
            RawDuration = TimeSpan.FromSeconds(parsed.GetValue(rawSeconds)),
            Seed = parsed.GetValue(seed),
            RelayLogLevel = parsed.GetValue(relayLog)!,
            PacerLog = parsed.GetValue(pacerLog),
            Instances = parsed.GetValue(instances),
            HubSpotLimit = parsed.GetValue(hubSpotLimit),
            Pace = parsed.GetValue(pace),
            Budget = parsed.GetValue(budget)!,
            KillOne = parsed.GetValue(killOne),
            Stranger = parsed.GetValue(stranger) || parsed.GetResult(strangerRate) is { Implicit: false } || parsed.GetResult(strangerPortal) is { Implicit: false },
            StrangerRate = parsed.GetValue(strangerRate),
            StrangerPortal = parsed.GetValue(strangerPortal),
            ExistingObjects = parsed.GetValue(existingObjects),
            NewMedia = parsed.GetValue(newMedia),
        };
    }

    private static Option<int> Number(string name, int fallback, string description, int minimum = 1) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        CustomParser = result => int.TryParse(result.Tokens[0].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= minimum
            ? value
            : Refuse<int>(result, $"{name} must be a whole number >= {minimum}"),
    };

    private static Option<int?> Optional(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result => int.TryParse(result.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1
            ? value
            : Refuse<int?>(result, $"{name} must be a whole number >= 1"),
    };

    private static Option<double> Share(string name, double fallback, string description, double maximum = 1) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        CustomParser = result => double.TryParse(result.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= 0 && value <= maximum
            ? value
            : Refuse<double>(result, $"{name} must be a number from 0 to {maximum.ToString(CultureInfo.InvariantCulture)}"),
    };

    private static T Refuse<T>(ArgumentResult result, string problem)
    {
        result.AddError(problem);
        return default!;
    }

    public override string ToString() =>
        $"--sessions {Sessions} --portals {Portals} --batch {Batch} --beacons {MinBeacons}-{MaxBeacons} --never-end {NeverEndShare} " +
        $"--rate {Rate} --heartbeat-ms {HeartbeatInterval.TotalMilliseconds} (sessions start over {RampSeconds:0} s) --idle-timeout-s {IdleTimeout.TotalSeconds} --queue-batch {QueueBatch}" +
        (Faults ? " --faults" : "") + (KeepStorage ? " --keep-storage" : "") + (BadInput > 0 ? $" --bad-input {BadInput}" : "") + $" --seed {Seed}" +
        (Instances > 1 ? $" --instances {Instances}" : "") + (HubSpotLimit is { } limit ? $" --hubspot-limit {limit}" : "") +
        (Pace is { } pace ? $" --pace {pace}" : "") + $" --budget {Budget}" + (KillOne ? " --kill-one" : "") +
        (ExistingObjects > 0 ? $" --existing-objects {ExistingObjects}" : "") + (NewMedia > 0 ? $" --new-media {NewMedia}" : "") +
        (Stranger ? $" --stranger-rate {StrangerRate} --stranger-portal {StrangerPortal}" : "");
}
