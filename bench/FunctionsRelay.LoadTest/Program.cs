using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Testing;
using FunctionsRelay.LoadTest;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

// The load, fault and bad-input harness: see docs/performance.md and docs/reliability.md.
//   dotnet run -c Release --project bench/FunctionsRelay.LoadTest -- [--sessions 2000] [--faults] [--bad-input 3000] ...
var options = LoadOptions.Parse(args);
var repository = FindRepository();
var artifacts = Directory.CreateDirectory(Path.Combine(repository, "artifacts", "load")).FullName;
var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
var report = new Report();
report.Line($"FunctionsRelay load test, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores: {options}");

var dataFolder = options.Faults ? Directory.CreateTempSubdirectory("relay-azurite-").FullName : null;
await using var azurite = new AzuriteProcess(repository, dataFolder);
await azurite.StartAsync();
await using var proxy = await StorageProxy.StartAsync(azurite.QueuePort, azurite.TablePort);
await using var hubSpot = await FakeHubSpot.StartAsync();
// HubSpot's per-account limit over every caller (every relay instance), with its headers.
hubSpot.RequestsPerTenSecondsPerAccount = options.HubSpotLimit;

var sessionOptions = new SessionOptions { IdleTimeout = options.IdleTimeout };
var relaySettings = new Dictionary<string, string>
{
    ["AzureWebJobsStorage"] = proxy.ConnectionString,
    ["HubSpot__ClientId"] = FakeHubSpot.ClientId,
    ["HubSpot__ClientSecret"] = FakeHubSpot.ClientSecret,
    ["HubSpot__BaseUrl"] = hubSpot.BaseUrl.ToString(),
    ["HubSpot__NoTokenRetryDelay"] = "00:00:02",
    ["HubSpot__OutageRetryDelay"] = "00:00:02",
    ["Sessions__IdleTimeout"] = sessionOptions.IdleTimeout.ToString("c", CultureInfo.InvariantCulture),
    ["Sessions__EndGracePeriod"] = sessionOptions.EndGracePeriod.ToString("c", CultureInfo.InvariantCulture),
    ["Relay__AllowedOrigins"] = "*",
    // Every player of the harness sends from this machine's one address.
    ["Beacons__RequestsPerMinutePerAddress"] = "1000000",
    // The players' media is on cdn.example.com: its HubSpot media objects get the relay's oEmbed URL.
    ["Relay__PublicBaseUrl"] = "https://relay.test",
    ["Relay__OEmbedHosts"] = "cdn.example.com",
    ["AzureFunctionsJobHost__extensions__queues__batchSize"] = options.QueueBatch.ToString(CultureInfo.InvariantCulture),
    ["AzureFunctionsJobHost__extensions__queues__newBatchThreshold"] = options.QueueBatch.ToString(CultureInfo.InvariantCulture),
    ["Logging__LogLevel__Default"] = "Warning",
    ["Logging__LogLevel__FunctionsRelay"] = options.RelayLogLevel,
    ["DOTNET_gcServer"] = "0",
    ["HubSpot__Budget"] = options.Budget,
};
if (options.Pace is { } pace)
    relaySettings["HubSpot__RequestsPerTenSeconds"] = pace.ToString(CultureInfo.InvariantCulture);

// Every portal is connected: its tokens are in the tokens table before the relay starts.
var storageConfiguration = new ConfigurationBuilder().AddInMemoryCollection([KeyValuePair.Create("AzureWebJobsStorage", (string?)proxy.ConnectionString)]).Build();
var tokenStore = new PortalTokenStore(new StorageClients(storageConfiguration), Options.Create(new RelayOptions()), TimeProvider.System);
await tokenStore.CreateIfNotExistsAsync(CancellationToken.None);
for (var p = 0; p < options.Portals; p++)
{
    await hubSpot.ConnectPortalAsync(tokenStore, 1000 + p, TimeSpan.FromHours(1));
    hubSpot.ProviderCatalogue(1000 + p, options.ExistingObjects, "catalogue-");
}

// Each portal's publishable key, made when it was connected: its players show it.
var keys = new Dictionary<long, string>();
for (var p = 0; p < options.Portals; p++)
    keys[1000 + p] = (await tokenStore.GetAccessAsync(1000 + p, CancellationToken.None))!.Key;

// One relay process per instance, all on the same storage: the Functions app scaled out, each on its own port.
var relayLogs = Enumerable.Range(0, options.Instances)
    .Select(i => Path.Combine(artifacts, options.Instances == 1 ? $"relay-{stamp}.log" : $"relay-{stamp}-{i}.log"))
    .ToList();
var relayLog = relayLogs[0];
var relays = relayLogs.Select(log => new RelayProcess(repository, relaySettings, log)).ToList();
await using var stopRelays = new DisposeAll(relays);
var relay = relays[0];
foreach (var instance in relays)
    await instance.StartAsync();
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Connections, UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
var beaconUrls = relays.Select(instance => new Uri(instance.BaseUrl, "/api/beacons")).ToList();
var failures = new List<string>();
var sourceSecrets = new List<string>();

if (options.BadInput > 0)
{
    var before = proxy.Snapshot();
    // The mParticle source's cases show portal 1000's secret source key, made here as `relay portal --new-secret-key` makes it.
    var secretKey = (await tokenStore.AddSecretKeyAsync(1000, CancellationToken.None))!.Value.Key;
    sourceSecrets.Add(secretKey);
    var bad = await BadInput.RunAsync(http, relay.BaseUrl, options.BadInput, options.Seed, concurrency: 16, secretKey);
    var enqueued = proxy.Snapshot().GetValueOrDefault("queue put") - before.GetValueOrDefault("queue put");
    var serving = await BadInput.StillServingAsync(http, relay.BaseUrl, 1000, keys[1000]);
    report.Line();
    report.Line($"Bad input: {bad.Requests} hostile requests in {bad.Elapsed.TotalSeconds:F1} s");
    report.Line($"  answers: {string.Join(", ", bad.ByStatus.OrderBy(s => s.Key).Select(s => $"{s.Value} x {s.Key}"))}");
    report.Line($"  kinds: {string.Join(", ", bad.ByKind.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}"))}");
    report.Line($"  5xx: {bad.ByStatus.Where(s => s.Key >= 500).Sum(s => s.Value)}; answers that do not name the problem: {bad.Failures.Count}; messages enqueued: {enqueued}; still serving: {(serving ? "yes" : "NO")}");
    foreach (var failure in bad.Failures)
        report.Line($"  ! {failure}");
    if (bad.Failures.Count > 0 || enqueued != 0 || !serving)
        failures.Add("bad input");
    report.Set("badInput", new { bad.Requests, byStatus = bad.ByStatus, byKind = bad.ByKind, bad.Failures, enqueued, serving, seconds = bad.Elapsed.TotalSeconds });
}

// The load: sessions of players posting batches of beacons, heartbeats compressed in time.
var sessions = Players.Plan(options);
var expected = Audit.Expected(sessions, sessionOptions);
var totalBeacons = sessions.Sum(s => s.Beacons.Count);
var players = new Players(http, beaconUrls, keys, options);
var storageBefore = proxy.Snapshot();
var storageByResourceBefore = proxy.SnapshotByResource();
var hubSpotCallsBefore = hubSpot.EventRequests;
var objectCallsBefore = hubSpot.ObjectRequests;
var objectsBefore = hubSpot.Objects.Count;
var samples = new List<(long Ticks, long StorageOps, long Received)>();
var faultLog = new List<(long Ticks, string Fault)>();
using var stop = new CancellationTokenSource();

var sampler = Task.Run(async () =>
{
    while (!stop.IsCancellationRequested)
    {
        lock (samples)
            samples.Add((Stopwatch.GetTimestamp(), StorageOps(proxy.Snapshot()) - StorageOps(storageBefore), hubSpot.Received.Count));
        await Task.Delay(250);
    }
});

// What Azure's scale controller sizes a queue-triggered app by: each trigger queue's approximate message count, which
// counts invisible (scheduled) messages too. Read straight from Azurite, so that it adds nothing to the proxy's counts.
var queueLengths = new QueueLengths(azurite.ConnectionString, [new RelayOptions().BeaconQueue, new RelayOptions().ScheduleQueue]);
var queueSampler = Task.Run(() => queueLengths.SampleAsync(TimeSpan.FromSeconds(1), stop.Token));

var faults = options.Faults ? Task.Run(() => InjectFaultsAsync(stop.Token))
    : options.KillOne ? Task.Run(() => KillOneInstanceAsync(stop.Token))
    : Task.CompletedTask;
var hubSpotStartMs = Environment.TickCount64;
var run = Stopwatch.StartNew();
await players.RunAsync(sessions, CancellationToken.None);
report.Line();
report.Line($"Load: {sessions.Count} sessions ({sessions.Count(s => !s.Ends)} never end), {totalBeacons} beacons in batches of {options.Batch}, {options.Portals} HubSpot accounts");
report.Line($"  players done in {run.Elapsed.TotalSeconds:F1} s: {players.AcceptedBeacons} beacons accepted in {players.Requests} requests ({players.Retries} sent again after a 5xx or no answer, {players.Refused} refused)");

// Wait for every expected event, or until nothing has arrived for a while after the idle timeout.
var expectedKeys = expected.Sum(e => e.Value.Count);
var lastCount = -1;
var lastProgress = Stopwatch.GetTimestamp();
while (true)
{
    var distinct = hubSpot.Received.Select(e => (e.SessionId, e.Key)).Distinct().Count();
    if (distinct >= expectedKeys)
        break;
    if (distinct != lastCount)
        (lastCount, lastProgress) = (distinct, Stopwatch.GetTimestamp());
    if (Stopwatch.GetElapsedTime(lastProgress) > options.IdleTimeout + TimeSpan.FromSeconds(60))
    {
        report.Line($"  gave up waiting: {distinct} of {expectedKeys} events arrived");
        break;
    }

    await Task.Delay(250);
}

var completedTicks = Stopwatch.GetTimestamp();
await stop.CancelAsync();
await Task.WhenAll(sampler, faults, queueSampler);
var storageAfter = proxy.Snapshot();
var storageByResourceAfter = proxy.SnapshotByResource();
var peakBytes = relays.Max(instance => instance.PeakBytes);
var received = hubSpot.Received.ToList();
var audit = Audit.Check(expected, received);
var secretsLogged = false;
foreach (var log in relayLogs)
    secretsLogged |= await SecretsInLogAsync(log, hubSpot.IssuedSecrets.Concat(sourceSecrets));
foreach (var instance in relays)
    await instance.DisposeAsync();

// The limit: the same kind of storage operations, same SDK, same proxy, nothing else running.
var rawOpsPerSecond = await RawStorage.OperationsPerSecondAsync(proxy.ConnectionString, options.RawWorkers, options.RawDuration);

// Figures. "Processed" ends when the last session that ended got its attention span: its end beacon was its last.
var endingSessions = sessions.Where(s => s.Ends).Select(s => s.SessionId).ToHashSet();
var lastSpanTicks = received.Where(e => e.Key == "attention-span" && endingSessions.Contains(e.SessionId)).Select(e => e.ReceivedTicks).DefaultIfEmpty(completedTicks).Max();
var processingWindow = Audit.Between(players.FirstSendTicks, lastSpanTicks);
var opsInWindow = samples.Where(s => s.Ticks <= lastSpanTicks).Select(s => s.StorageOps).DefaultIfEmpty(0).Max();
var storage = Delta(storageBefore, storageAfter);
var storageOps = StorageOps(storageAfter) - StorageOps(storageBefore);
var queueOps = storage.Where(s => s.Key.StartsWith("queue", StringComparison.Ordinal)).Sum(s => s.Value);
var tableOps = storage.Where(s => s.Key.StartsWith("table", StringComparison.Ordinal)).Sum(s => s.Value);
var relayOpsPerSecond = opsInWindow / processingWindow.TotalSeconds;
var opsPerBeacon = (double)storageOps / totalBeacons;
var latency = Audit.Percentiles(received.Where(e => e.Key == "played")
    .GroupBy(e => e.SessionId).Where(g => players.PlaySentTicks.ContainsKey(g.Key))
    .Select(g => Audit.Between(players.PlaySentTicks[g.Key], g.Min(e => e.ReceivedTicks))));
var hubSpotCalls = hubSpot.EventRequests - hubSpotCallsBefore;

report.Line($"  accepted: {players.AcceptedBeacons / players.SendingTime.TotalSeconds:F0} beacons/s; processed: {totalBeacons / processingWindow.TotalSeconds:F0} beacons/s ({processingWindow.TotalSeconds:F1} s from the first beacon sent to the last ended session's attention span)");
report.Line($"  play beacon sent -> HubSpot has the played event: p50 {latency.P50:F0} ms, p95 {latency.P95:F0} ms, p99 {latency.P99:F0} ms ({latency.Count} sessions)");
report.Line($"  storage transactions: {storageOps} = {opsPerBeacon:F2} per beacon (queue {queueOps / (double)totalBeacons:F2}, table {tableOps / (double)totalBeacons:F2}), including the listener's polls of an empty queue");
report.Line($"    {string.Join(", ", storage.OrderByDescending(s => s.Value).Select(s => $"{s.Key} {s.Value}"))}");
report.Line($"    by queue or table: {string.Join(", ", Delta(storageByResourceBefore, storageByResourceAfter).OrderByDescending(s => s.Value).Select(s => $"{s.Key} {s.Value}"))}");
var storageLatency = proxy.MeanMilliseconds();
report.Line($"    Azurite's mean answer time: {string.Join(", ", storage.OrderByDescending(s => s.Value).Select(s => $"{s.Key} {storageLatency.GetValueOrDefault(s.Key):F0} ms"))}");
report.Line($"  HubSpot: {hubSpotCalls} event requests = {(double)hubSpotCalls / sessions.Count:F2} per session ({audit.ExpectedEvents / (double)sessions.Count:F2} events per session); {hubSpot.Refreshes} token refreshes");
var objectCalls = hubSpot.ObjectRequests - objectCallsBefore;
var objectsMade = hubSpot.Objects.Count - objectsBefore;
report.Line($"  HubSpot media object calls: {objectCalls} (listing pages and objects made) for {objectsMade} new media = {(objectsMade == 0 ? 0 : (double)objectCalls / objectsMade):F2} per new media; the portals held {options.ExistingObjects} objects each before");
report.Set("mediaObjects", new { calls = objectCalls, made = objectsMade, existingPerPortal = options.ExistingObjects });
foreach (var (queue, peak, mean, peakPerTen) in queueLengths.Summary())
{
    report.Line($"  trigger queue {queue} as the scale controller sees it (approximate count, invisible messages included): peak {peak}, mean {mean:F0}");
    report.Line($"    its peak per 10 s from the start: {string.Join(' ', peakPerTen)}");
}

foreach (var spike in queueLengths.Spikes)
    report.Line($"    a spike: {spike}");
report.Line($"  relay peak memory (VmHWM, the largest instance): {peakBytes / (1024.0 * 1024):F0} MiB; {relays.Count} instance(s), started {relays.Sum(r => r.Starts)} time(s) in all");
if (options.HubSpotLimit is { } accountLimit)
{
    var budget = Budget.Of(hubSpot, hubSpotStartMs, accountLimit, options.Pace ?? new HubSpotOptions().RequestsPerTenSeconds);
    report.Line($"  HubSpot's account limit {accountLimit} per 10 s over every instance ({options.Budget} budget, pace {options.Pace ?? new HubSpotOptions().RequestsPerTenSeconds}): {budget.Limited} of {budget.Calls} calls answered 429 ({budget.LimitedShare:P2}); after the first 10 s {budget.LimitedAfterFirst10s} ({budget.LimitedShareAfterFirst10s:P2})");
    foreach (var portal in budget.Portals)
        report.Line($"    portal {portal.PortalId}: {portal.Calls} calls in {portal.BacklogSeconds:F0} s of backlog, {portal.PerTenSeconds:F1} per 10 s = {portal.ShareOfPace:P0} of the pace, {portal.ShareOfLimit:P0} of HubSpot's limit (slowest 10 s: {portal.SlowestTenSeconds}); per 10 s from the start: {string.Join(" ", portal.PerTenSecondsFromStart)}");
    report.Set("budget", budget);
}
report.Line($"  the limit: Azurite takes {rawOpsPerSecond:F0} storage operations/s of this kind (SDK, proxy, {options.RawWorkers} workers, nothing else) = {rawOpsPerSecond / opsPerBeacon:F0} beacons/s at the relay's {opsPerBeacon:F2} per beacon");
report.Line($"  the relay drove {relayOpsPerSecond:F0} storage operations/s while processing: {relayOpsPerSecond / rawOpsPerSecond:F2} of the limit");
foreach (var (ticks, fault) in faultLog)
    report.Line($"  fault at {Audit.Between(players.FirstSendTicks, ticks).TotalSeconds:F1} s: {fault}");

report.Line();
report.Line($"Audit: {audit.Sessions} sessions, {audit.ExpectedEvents} events expected (the core, from each session's beacons), {audit.ReceivedEvents} received");
report.Line($"  missing {audit.Missing}, different {audit.Mismatched}, unexpected {audit.Unexpected}, sent twice {audit.Duplicates}; tokens, client secret or secret source key in the relay's log: {(secretsLogged ? "YES" : "none")}");
foreach (var example in audit.Examples)
    report.Line($"  ! {example}");
foreach (var (sessionId, key, first, _) in audit.DuplicateTimes.Take(10))
{
    var before = faultLog.Where(f => f.Ticks <= first).Select(f => ((long Ticks, string Fault)?)f).LastOrDefault();
    var cause = before is { } fault ? $"{Audit.Between(fault.Ticks, first).TotalMilliseconds:F0} ms after \"{fault.Fault}\"" : "with no fault before it";
    report.Line($"  twice: {sessionId} {key}, first delivered {cause}");
}

if (!audit.NothingLost)
    failures.Add("events lost or wrong");
if (audit.Duplicates > 0 && !options.Faults)
    failures.Add("events sent twice without a fault");
if (players.Refused > 0)
    failures.Add("valid beacons refused");
if (secretsLogged)
    failures.Add("secrets in the log");
report.Line(failures.Count == 0 ? "RESULT: pass" : $"RESULT: FAIL ({string.Join(", ", failures)})");

report.Set("options", options.ToString());
report.Set("load", new
{
    sessions = sessions.Count,
    beacons = totalBeacons,
    acceptedPerSecond = players.AcceptedBeacons / players.SendingTime.TotalSeconds,
    processedPerSecond = totalBeacons / processingWindow.TotalSeconds,
    latencyMs = new { p50 = latency.P50, p95 = latency.P95, p99 = latency.P99 },
    storageOps,
    storage,
    opsPerBeacon,
    hubSpotCallsPerSession = (double)hubSpotCalls / sessions.Count,
    peakMiB = peakBytes / (1024.0 * 1024),
    rawOpsPerSecond,
    relayOpsPerSecond,
    ratio = relayOpsPerSecond / rawOpsPerSecond,
    queueLengths = queueLengths.Summary().ToDictionary(q => q.Queue, q => new { q.Peak, q.Mean }),
});
report.Set("audit", new { audit.Sessions, audit.ExpectedEvents, audit.ReceivedEvents, audit.Missing, audit.Mismatched, audit.Unexpected, audit.Duplicates });
var resultsFile = Path.Combine(artifacts, $"results-{stamp}.json");
await File.WriteAllTextAsync(resultsFile, report.Json());
report.Line($"(figures in {Path.GetRelativePath(repository, resultsFile)}, the relay's log in {Path.GetRelativePath(repository, relayLog)})");
if (dataFolder is not null)
{
    await azurite.StopAsync();
    Directory.Delete(dataFolder, recursive: true);
}

return failures.Count == 0 ? 0 : 1;

async Task InjectFaultsAsync(CancellationToken cancellationToken)
{
    // Each fault says what happened, when that is worth knowing (how Azurite stopped).
    var plan = new (double At, string Name, Func<Task<string?>> Inject)[]
    {
        (0.15, "HubSpot answers 429 (Retry-After: 2) to the next 40 events", () => { hubSpot.AnswerNextEvents(429, 40, retryAfterSeconds: 2); return Task.FromResult<string?>(null); }),
        (0.25, "every access token expires", () => { hubSpot.ExpireAllAccessTokens(); return Task.FromResult<string?>(null); }),
        (0.40, "relay killed (SIGKILL), restarted after 1 s", async () => { await relay.KillAsync(); await Task.Delay(1000, cancellationToken); await relay.StartAsync(); return null; }),
        (0.55, "HubSpot answers 500 to the next 60 events", () => { hubSpot.AnswerNextEvents(500, 60); return Task.FromResult<string?>(null); }),
        (0.70, "storage cut off, Azurite stopped and restarted after 2 s (data on disk)", async () =>
        {
            proxy.Disconnect();
            var stopped = await azurite.StopAsync();
            await Task.Delay(2000, cancellationToken);
            await azurite.StartAsync();
            proxy.Reconnect();
            return $"Azurite {stopped}";
        }),
    };
    foreach (var (at, name, inject) in plan.Where(f => !(options.KeepStorage && f.Name.StartsWith("storage", StringComparison.Ordinal))))
    {
        while (players.AcceptedBeacons < at * totalBeacons)
        {
            if (cancellationToken.IsCancellationRequested)
                return;
            await Task.Delay(50, CancellationToken.None);
        }

        var injected = Stopwatch.GetTimestamp();
        var outcome = await inject();
        lock (faultLog)
            faultLog.Add((injected, outcome is null ? name : $"{name}: {outcome}"));
    }
}

// One instance SIGKILLed halfway through the players, and started again a second later: its messages wait out their
// lease, its sessions' deliveries their delivery lease, and the other instances carry on.
async Task KillOneInstanceAsync(CancellationToken cancellationToken)
{
    while (players.AcceptedBeacons < totalBeacons / 2)
    {
        if (cancellationToken.IsCancellationRequested)
            return;
        await Task.Delay(50, CancellationToken.None);
    }

    var victim = relays[^1];
    var injected = Stopwatch.GetTimestamp();
    await victim.KillAsync();
    await Task.Delay(1000, CancellationToken.None);
    await victim.StartAsync();
    lock (faultLog)
        faultLog.Add((injected, $"instance {relays.Count - 1} of {relays.Count} killed (SIGKILL), restarted after 1 s"));
}

static long StorageOps(IReadOnlyDictionary<string, long> counts) =>
    counts.Where(c => !c.Key.EndsWith("admin", StringComparison.Ordinal) && !c.Key.EndsWith(')')).Sum(c => c.Value);

static Dictionary<string, long> Delta(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after) =>
    after.ToDictionary(a => a.Key, a => a.Value - before.GetValueOrDefault(a.Key)).Where(d => d.Value > 0).ToDictionary();

static async Task<bool> SecretsInLogAsync(string logFile, IEnumerable<string> secrets)
{
    if (!File.Exists(logFile))
        return false;
    var log = await File.ReadAllTextAsync(logFile);
    return secrets.Any(secret => log.Contains(secret, StringComparison.Ordinal));
}

static string FindRepository()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "FunctionsRelay.sln")))
            return dir.FullName;
    }

    throw new InvalidOperationException("run from the repository: FunctionsRelay.sln not found");
}

namespace FunctionsRelay.LoadTest
{
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

        /// <summary>SIGKILL one instance halfway and start it again.</summary>
        public bool KillOne { get; init; }

        public static LoadOptions Parse(string[] args)
        {
            var options = new LoadOptions();
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
                options = args[i] switch
                {
                    "--sessions" => options with { Sessions = Int() },
                    "--portals" => options with { Portals = Int() },
                    "--batch" => options with { Batch = Int() },
                    "--beacons" => Next().Split('-') is [var min, var max]
                        ? options with { MinBeacons = int.Parse(min, CultureInfo.InvariantCulture), MaxBeacons = int.Parse(max, CultureInfo.InvariantCulture) }
                        : throw new ArgumentException("--beacons takes min-max, e.g. 12-60"),
                    "--never-end" => options with { NeverEndShare = double.Parse(Next(), CultureInfo.InvariantCulture) },
                    "--rate" => options with { Rate = Int() },
                    "--heartbeat-ms" => options with { HeartbeatInterval = TimeSpan.FromMilliseconds(Int()) },
                    "--idle-timeout-s" => options with { IdleTimeout = TimeSpan.FromSeconds(Int()) },
                    "--connections" => options with { Connections = Int() },
                    "--queue-batch" => options with { QueueBatch = Int() },
                    "--faults" => options with { Faults = true },
                    "--keep-storage" => options with { KeepStorage = true },
                    "--bad-input" => options with { BadInput = Int() },
                    "--raw-workers" => options with { RawWorkers = Int() },
                    "--raw-seconds" => options with { RawDuration = TimeSpan.FromSeconds(Int()) },
                    "--seed" => options with { Seed = Int() },
                    "--relay-log" => options with { RelayLogLevel = Next() },
                    "--instances" => options with { Instances = Int() },
                    "--hubspot-limit" => options with { HubSpotLimit = Int() },
                    "--pace" => options with { Pace = Int() },
                    "--budget" => options with { Budget = Next() },
                    "--kill-one" => options with { KillOne = true },
                    "--existing-objects" => options with { ExistingObjects = Int() },
                    "--new-media" => options with { NewMedia = Int() },
                    _ => throw new ArgumentException($"unknown option {args[i]}; see docs/performance.md"),
                };
            }

            return options;
        }

        public override string ToString() =>
            $"--sessions {Sessions} --portals {Portals} --batch {Batch} --beacons {MinBeacons}-{MaxBeacons} --never-end {NeverEndShare} " +
            $"--rate {Rate} --heartbeat-ms {HeartbeatInterval.TotalMilliseconds} (sessions start over {RampSeconds:0} s) --idle-timeout-s {IdleTimeout.TotalSeconds} --queue-batch {QueueBatch}" +
            (Faults ? " --faults" : "") + (KeepStorage ? " --keep-storage" : "") + (BadInput > 0 ? $" --bad-input {BadInput}" : "") + $" --seed {Seed}" +
            (Instances > 1 ? $" --instances {Instances}" : "") + (HubSpotLimit is { } limit ? $" --hubspot-limit {limit}" : "") +
            (Pace is { } pace ? $" --pace {pace}" : "") + $" --budget {Budget}" + (KillOne ? " --kill-one" : "") +
            (ExistingObjects > 0 ? $" --existing-objects {ExistingObjects}" : "") + (NewMedia > 0 ? $" --new-media {NewMedia}" : "");
    }

    /// <summary>Prints each line as it comes and keeps the figures for the JSON results file.</summary>
    public sealed class Report
    {
        private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
        private readonly Dictionary<string, object> _figures = [];
        private readonly TextWriter _out = Console.Out;

        public void Line(string text = "") => _out.WriteLine(text);

        public void Set(string name, object value) => _figures[name] = value;

        public string Json() => JsonSerializer.Serialize(_figures, Indented);
    }
}
