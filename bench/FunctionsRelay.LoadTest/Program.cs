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
const string PrivacySessionPrefix = "mp-privacy-";
if (LoadOptions.Parse(args, Console.Out) is not { } options)
    return args.Any(arg => arg is "--help" or "-h" or "-?") ? 0 : 2;
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
if (options.PacerLog)
    relaySettings["Logging__LogLevel__FunctionsRelay.Infrastructure.HubSpot.HubSpotPacer"] = "Debug";
if (options.Pace is { } pace)
    relaySettings["HubSpot__RequestsPerTenSeconds"] = pace.ToString(CultureInfo.InvariantCulture);
if (options.Stranger)
{
    // A run's minutes instead of production's hours: a media past the bounds waits a minute, not 12 hours, and held
    // viewers are looked up again every 5 s, so that what the stranger leaves behind shows before the run ends.
    relaySettings["Relay__MediaObjectWaitLimit"] = "00:01:00";
    relaySettings["Relay__AnonymousCheckInterval"] = "00:00:05";
}

// Every portal is connected: its tokens are in the tokens table before the relay starts.
var storageConfiguration = new ConfigurationBuilder().AddInMemoryCollection([KeyValuePair.Create("AzureWebJobsStorage", (string?)proxy.ConnectionString)]).Build();
var tokenStore = new PortalTokenStore(new StorageClients(storageConfiguration), Options.Create(new RelayOptions()), TimeProvider.System);
await tokenStore.CreateIfNotExistsAsync(CancellationToken.None);
// The stranger's portal may be one of its own (--stranger-portal): to tell what his load costs from what his calls do.
var connected = Enumerable.Range(1000, options.Portals).Select(p => (long)p).Append(options.StrangerPortal).Distinct().ToList();
foreach (var portal in connected)
{
    await hubSpot.ConnectPortalAsync(tokenStore, portal, TimeSpan.FromHours(1));
    hubSpot.ProviderCatalogue(portal, options.ExistingObjects, "catalogue-");
}

// Each portal's publishable key, made when it was connected: its players show it.
var keys = new Dictionary<long, string>();
foreach (var portal in connected)
    keys[portal] = (await tokenStore.GetAccessAsync(portal, CancellationToken.None))!.Key;

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

var stranger = options.Stranger ? new Stranger(http, beaconUrls, options.StrangerPortal, keys[options.StrangerPortal], hubSpot, options.StrangerRate) : null;
using var strangerStop = new CancellationTokenSource();
var strangerRun = stranger is null ? Task.CompletedTask : Task.Run(() => stranger.RunAsync(strangerStop.Token));
var faults = options.Faults ? Task.Run(() => InjectFaultsAsync(stop.Token))
    : options.KillOne ? Task.Run(() => KillOneInstanceAsync(stop.Token))
    : Task.CompletedTask;
// Viewers named by email (mParticle's Webhook output, portal 1000's secret source key): one a contact, one not yet. At the
// end every table, queue and blob, and the relay's logs, are read for their emails in plain text (docs/privacy.md).
// The bad input's key when it made one: a key made later counts on an instance only once its cached view of the portal
// runs out (up to a minute), and the bad input's source cases have just filled that cache.
var privacySecret = sourceSecrets.FirstOrDefault() ?? (await tokenStore.AddSecretKeyAsync(1000, CancellationToken.None))!.Value.Key;
if (!sourceSecrets.Contains(privacySecret))
    sourceSecrets.Add(privacySecret);
string[] privacyEmails = ["known.viewer@load.example.com", "not.yet.a.contact@load.example.com"];
hubSpot.AddContactWithEmail(1000, privacyEmails[0]);
foreach (var (email, i) in privacyEmails.Select((email, i) => (email, i)))
{
    using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(relay.BaseUrl, "/api/sources/mparticle"))
    {
        Content = new StringContent(MParticleBatches.Json(MParticleBatches.RokuSession($"{PrivacySessionPrefix}{i}", DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds(), email: email)), System.Text.Encoding.UTF8, "application/json"),
    };
    request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {privacySecret}");
    using var answer = await http.SendAsync(request);
    if (answer.StatusCode != System.Net.HttpStatusCode.Accepted)
        failures.Add($"an email viewer's batch was answered {(int)answer.StatusCode}");
}

var hubSpotStartMs = Environment.TickCount64;
var run = Stopwatch.StartNew();
await players.RunAsync(sessions, CancellationToken.None);
await strangerStop.CancelAsync();
await strangerRun;
report.Line();
report.Line($"Load: {sessions.Count} sessions ({sessions.Count(s => !s.Ends)} never end), {totalBeacons} beacons in batches of {options.Batch}, {options.Portals} HubSpot accounts");
report.Line($"  players done in {run.Elapsed.TotalSeconds:F1} s: {players.AcceptedBeacons} beacons accepted in {players.Requests} requests ({players.Retries} sent again after a 5xx or no answer, {players.Refused} refused)");

// Wait for every expected event, or until nothing has arrived for a while after the idle timeout.
var expectedKeys = expected.Sum(e => e.Value.Count);
var lastCount = -1;
var lastProgress = Stopwatch.GetTimestamp();
while (true)
{
    var distinct = RealEvents().Select(e => (e.SessionId, e.Key)).Distinct().Count();
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
var received = RealEvents().ToList();
var audit = Audit.Check(expected, received);
(int Pending, int Stored, TimeSpan Waited)? strangerLeft = stranger is null ? null : await StrangerSessionsLeftAsync(stranger);
var emailsFound = await StorageScan.FindAsync(azurite.ConnectionString, privacyEmails);
foreach (var log in relayLogs.Where(File.Exists))
{
    var text = await File.ReadAllTextAsync(log);
    emailsFound.AddRange(privacyEmails.Where(email => text.Contains(email, StringComparison.OrdinalIgnoreCase)).Select(_ => $"the relay's log {Path.GetFileName(log)}"));
}
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
if (stranger is not null)
    ReportStranger(stranger, strangerLeft!.Value);
report.Line($"  the limit: Azurite takes {rawOpsPerSecond:F0} storage operations/s of this kind (SDK, proxy, {options.RawWorkers} workers, nothing else) = {rawOpsPerSecond / opsPerBeacon:F0} beacons/s at the relay's {opsPerBeacon:F2} per beacon");
report.Line($"  the relay drove {relayOpsPerSecond:F0} storage operations/s while processing: {relayOpsPerSecond / rawOpsPerSecond:F2} of the limit");
foreach (var (ticks, fault) in faultLog)
    report.Line($"  fault at {Audit.Between(players.FirstSendTicks, ticks).TotalSeconds:F1} s: {fault}");

report.Line();
report.Line($"Audit: {audit.Sessions} sessions, {audit.ExpectedEvents} events expected (the core, from each session's beacons), {audit.ReceivedEvents} received");
report.Line($"  missing {audit.Missing}, different {audit.Mismatched}, unexpected {audit.Unexpected}, sent twice {audit.Duplicates}; tokens, client secret or secret source key in the relay's log: {(secretsLogged ? "YES" : "none")}");
report.Line($"  viewers' emails in plain text in any table, queue or blob, or the relay's log: {(emailsFound.Count == 0 ? "nowhere" : string.Join("; ", emailsFound))}");
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
if (emailsFound.Count > 0)
    failures.Add("a viewer's email in plain text");
if (strangerLeft is { Pending: > 0 })
    failures.Add("the stranger's sessions still wait to be sent");
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

// The real players' events: the stranger's sessions, and the email viewers of the privacy scan, are no part of the audit.
IEnumerable<ReceivedEvent> RealEvents() => hubSpot.Received.Where(e =>
    !e.SessionId.StartsWith(Stranger.SessionPrefix, StringComparison.Ordinal) && !e.SessionId.StartsWith(PrivacySessionPrefix, StringComparison.Ordinal));

// Once the real viewers are served: how many of the stranger's sessions still hold events to send, waited for up to the
// media wait limit and a minute, by which time every bound has decided each of them.
async Task<(int Pending, int Stored, TimeSpan Waited)> StrangerSessionsLeftAsync(Stranger from)
{
    var repository = new SessionRepository(new StorageClients(storageConfiguration), Options.Create(new RelayOptions()), TimeProvider.System);
    var waiting = Stopwatch.StartNew();
    var ids = from.SessionIds.ToList();
    while (true)
    {
        var (pending, stored) = (0, 0);
        foreach (var sessionId in ids)
        {
            if (await repository.GetAsync(options.StrangerPortal, sessionId, CancellationToken.None) is not { } session)
                continue;
            stored++;
            if (session.Session.Outbox.Count > 0)
                pending++;
        }

        if (pending == 0 || waiting.Elapsed > TimeSpan.FromSeconds(120))
            return (pending, stored, waiting.Elapsed);
        await Task.Delay(5000);
    }
}

void ReportStranger(Stranger from, (int Pending, int Stored, TimeSpan Waited) left)
{
    var calls = hubSpot.Calls.Where(c => c.AtMs >= hubSpotStartMs).ToList();
    var his = calls.Where(Stranger.Made).ToList();
    var real = calls.Where(c => c.Subject?.StartsWith("load-", StringComparison.Ordinal) == true || c.Subject?.StartsWith("utk-load-", StringComparison.Ordinal) == true).ToList();
    var lookUps = calls.Where(c => c.Kind is "utk" or "email").Select(c => c.AtMs).Order().ToList();
    var mostLookUps = lookUps.Count == 0 ? 0 : lookUps.Select((at, i) => lookUps.Skip(i).TakeWhile(t => t - at < 10_000).Count()).Max();
    var pace = options.Pace ?? new HubSpotOptions().RequestsPerTenSeconds;
    report.Line($"  the stranger ({Stranger.Address}, portal {options.StrangerPortal}'s page key): {from.Requests} requests, {from.SessionIds.Count} sessions; answers: {string.Join(", ", from.Answers.OrderBy(a => a.Key).Select(a => $"{a.Value} x {a.Key}"))}");
    report.Line($"    HubSpot calls: {calls.Count} in all, the stranger's {his.Count} ({(double)his.Count / Math.Max(1, calls.Count):P1}: {string.Join(", ", his.GroupBy(c => c.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))}), the real viewers' {real.Count}, naming neither {calls.Count - his.Count - real.Count} ({string.Join(", ", calls.Except(his).Except(real).GroupBy(c => c.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))})");
    report.Line($"    look-ups (utk and email) in any rolling 10 s: at most {mostLookUps} (half the pace: {pace / 2})");
    report.Line($"    the stranger's sessions with events still to send {left.Waited.TotalSeconds:F0} s after the real viewers were served: {left.Pending} of {left.Stored} stored");
    report.Set("stranger", new
    {
        from.Requests,
        sessions = from.SessionIds.Count,
        answers = from.Answers,
        calls = calls.Count,
        strangerCalls = his.Count,
        strangerShare = (double)his.Count / Math.Max(1, calls.Count),
        strangerCallsByKind = his.GroupBy(c => c.Kind).ToDictionary(g => g.Key, g => g.Count()),
        realCalls = real.Count,
        mostLookUpsPerTenSeconds = mostLookUps,
        pendingSessions = left.Pending,
        storedSessions = left.Stored,
    });
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
