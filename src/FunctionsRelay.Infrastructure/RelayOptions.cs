namespace FunctionsRelay.Infrastructure;

/// <summary>Queue and table names. Bound from the <c>Relay</c> section (<c>Relay__BeaconQueue</c>, ...).</summary>
public sealed class RelayOptions
{
    public const string SectionName = "Relay";

    public string BeaconQueue { get; set; } = "beacons";

    /// <summary>Where the queue listener moves a message after host.json's <c>maxDequeueCount</c> failed attempts (its naming).</summary>
    public string PoisonQueue => BeaconQueue + "-poison";

    /// <summary>
    /// Close checks and delivery checks, each invisible until it is due. Not the beacon queue: Azure's scale controller
    /// sizes a queue-triggered app by the queue's message count, invisible messages included, so thousands of open
    /// sessions' checks there would scale the beacon trigger out for beacons that are not there.
    /// </summary>
    public string ScheduleQueue { get; set; } = "beacons-scheduled";

    public string SchedulePoisonQueue => ScheduleQueue + "-poison";

    /// <summary>Checks due later than <see cref="ScheduledCheckTableAfter"/>, until they are due (<see cref="Storage.ScheduledCheckTable"/>).</summary>
    public string ScheduleTable { get; set; } = "schedule";

    /// <summary>
    /// A check due later than this waits in <see cref="ScheduleTable"/> and is swept onto the scheduled queue when due
    /// (at most a sweep late); a sooner one goes on the queue at once, invisible until due. Zero: every check on the queue.
    /// </summary>
    public TimeSpan ScheduledCheckTableAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the local host sweeps the due checks onto the queue (the Functions app: <c>ScheduleSweepSchedule</c>, 5 s).</summary>
    public TimeSpan ScheduleSweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    public string SessionsTable { get; set; } = "sessions";

    public string TokensTable { get; set; } = "tokens";

    public string DeadLettersTable { get; set; } = "deadletters";

    /// <summary>The media objects the relay made in each portal, by media type and provider id.</summary>
    public string MediaObjectsTable { get; set; } = "mediaobjects";

    /// <summary>What each portal may do per day or hour, counted for every instance: media objects made, sessions held.</summary>
    public string QuotasTable { get; set; } = "quotas";

    /// <summary>The Data Protection key ring that encrypts the portals' tokens at rest.</summary>
    public string KeysTable { get; set; } = "keys";

    /// <summary>
    /// A Key Vault key (<c>https://&lt;vault&gt;.vault.azure.net/keys/&lt;name&gt;</c>, without a version) that wraps each
    /// key of the key ring before it is stored; empty: stored as they are (the local host). The deployment sets it.
    /// </summary>
    public string? KeyRingKeyUri { get; set; }

    /// <summary>Messages of the poison queues, kept for an operator to look at and put back (<c>relay poison</c>).</summary>
    public string PoisonedTable { get; set; } = "poisoned";

    /// <summary>
    /// How long a poisoned message is kept (its body encrypted) before retention deletes it, replayed or not: it holds a
    /// viewer's beacons. 0: until replayed.
    /// </summary>
    public int PoisonedRetentionDays { get; set; } = 30;

    /// <summary>
    /// Keyed hashes of the viewers a privacy deletion erased, by portal, kept <see cref="Storage.ForgottenViewers.KeptFor"/>:
    /// beacons of such a viewer still on their way (in a queue, a player's retry) are dropped, not made a session again.
    /// </summary>
    public string ForgottenTable { get; set; } = "forgotten";

    /// <summary>
    /// A privacy deletion is done again this long after the first (it finds nothing, or what another instance had in hand
    /// then: a session it had read before the deletion and saved after).
    /// </summary>
    public TimeSpan ForgetSweepAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The relay's counters per portal and minute, as its OpenTelemetry metrics exporter writes them for the operator view
    /// and <c>relay status</c>: kept two days.
    /// </summary>
    public string MetricsTable { get; set; } = "metrics";

    /// <summary>How often each instance writes its counters to <see cref="MetricsTable"/>.</summary>
    public TimeSpan MetricsInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Where the relay is reached from the internet (https://relay.example.com); it serves the oEmbed URLs of media objects
    /// whose beacons bring none. Empty: taken from <c>HubSpot__RedirectUri</c>'s scheme and host.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>
    /// Hosts whose https pages the relay's oEmbed endpoint embeds (<c>video.example.com</c>, or <c>*.example.com</c> for its
    /// subdomains); comma-separated. Empty: it embeds nothing, and media objects need their beacons' own oEmbed URL.
    /// </summary>
    public string[] OEmbedHosts { get; set; } = [];

    /// <summary>Browser origins allowed to post beacons; <c>*</c> allows any. Bound from <c>Relay__AllowedOrigins__0</c>, ... or a comma-separated <c>Relay__AllowedOrigins</c>.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>
    /// How often a storage request is tried again before the relay gives up on it (all but ingest, which fails fast): with
    /// <see cref="StorageRetryDelay"/> doubling up to 8 times itself, 6 retries wait out about half a minute.
    /// </summary>
    public int StorageRetries { get; set; } = 6;

    public TimeSpan StorageRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>After how many days closed sessions with every event delivered (and no dead letter kept) are deleted.</summary>
    public int RetentionDays { get; set; } = 30;

    /// <summary>
    /// After how many days dead letters and poisoned messages, which never reached HubSpot, are deleted (and with them
    /// the sessions the letters would be replayed into); 0: never, they wait for an operator (<c>relay deadletters</c>,
    /// <c>relay poison</c>). At least <see cref="RetentionDays"/> when set.
    /// </summary>
    public int UndeliveredRetentionDays { get; set; }

    /// <summary>
    /// How many media objects beacons may make in one portal per UTC day: a page's key is public, and each new external id
    /// would otherwise make an object on every contact card's list. Media made with <c>relay media</c> do not count.
    /// </summary>
    public int NewMediaPerPortalPerDay { get; set; } = 1_000;

    /// <summary>
    /// How many of them may be made in one hour: a stranger who names new media as fast as the ingest limits let him
    /// would otherwise take the day's bound in minutes, two HubSpot calls each at a played event's rank.
    /// </summary>
    public int NewMediaPerPortalPerHour { get; set; } = 100;

    /// <summary>
    /// How long a session's events wait for a media object the portal may not make now (its bounds of new media, or a
    /// portal whose objects come from its catalog alone) before they are dropped: looked at hourly meanwhile (no HubSpot
    /// call, a table read), so that an object <c>relay media</c> makes is used at once; never retried a day later.
    /// </summary>
    public TimeSpan MediaObjectWaitLimit { get; set; } = TimeSpan.FromHours(12);

    /// <summary>
    /// How many sessions one viewer (one utk, contact id or email) may begin in a portal per hour, for every instance
    /// together (table <c>quotas</c>); beyond, a session's events are dropped. A viewer watching a new clip every minute
    /// stays within it; a stranger replaying one known utk for hundreds of made-up sessions an hour does not.
    /// </summary>
    public int MaxSessionsPerViewerPerHour { get; set; } = 60;

    /// <summary>
    /// A viewer's first sessions of the hour, up to this many, are sent at their events' own rank; the rest (up to
    /// <see cref="MaxSessionsPerViewerPerHour"/>) only take the portal's HubSpot budget that nobody else wants: a known
    /// utk replayed for made-up sessions cannot put its events ahead of real viewers', however fast it sends.
    /// </summary>
    public int ViewerSessionsFirstPerHour { get; set; } = 3;

    /// <summary>
    /// How many viewers who are no HubSpot contact one client address may bring to a portal per hour before its sessions
    /// are looked up last (below every event and every other look-up) and, found no contact, dropped rather than held:
    /// a page's visitors come from many addresses; a stranger making up utks comes from few.
    /// </summary>
    public int MaxUnknownViewersPerSourcePerHour { get; set; } = 50;

    /// <summary>
    /// How many contacts the relay may create in a portal per UTC day for emails HubSpot does not know (portals that opted
    /// in with <c>relay portal --create-contacts</c>), for every instance together: a leaked secret source key would
    /// otherwise create them as fast as the look-ups' half of the pace allows. Beyond, such a viewer waits as one who is
    /// no contact.
    /// </summary>
    public int MaxContactsCreatedPerPortalPerDay { get; set; } = 1_000;

    /// <summary>
    /// An event that reaches HubSpot this long after it became due means its portal is behind (over its HubSpot budget,
    /// or its token gone for a while): a warning names the portal and how far behind it is, at most once a minute per
    /// instance. Zero: no warning.
    /// </summary>
    public TimeSpan BacklogWarningAfter { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A session whose quartiles are all still pending, the oldest of them due this long, sends only the highest one
    /// reached: a portal far over its HubSpot budget then spends it on played events and attention spans. Zero: off.
    /// </summary>
    public TimeSpan CoalesceQuartilesAfter { get; set; }

    /// <summary>How long a worker may deliver a session's events before another may take over.</summary>
    public TimeSpan DeliveryLease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long the events of a viewer known only by a utk that is not (yet) a HubSpot contact are held, waiting for the
    /// viewer to become one, before they are dropped. Zero: no look-up and no hold; such sessions are sent as they are.
    /// </summary>
    public TimeSpan HoldAnonymousFor { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How soon a held session first asks HubSpot again whether its utk has become a contact (at most an hour); after that
    /// it waits as long as it has been held so far (so 1, 2, 4, 8 hours...), up to a day: about 35 look-ups and 35
    /// queued checks over a 30-day hold, not 720.
    /// </summary>
    public TimeSpan AnonymousCheckInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How many sessions of viewers who are not contacts one portal may begin to hold per hour; beyond it a new such
    /// session's events are dropped (logged, counted), as a page's public key would otherwise let anyone make held
    /// sessions that each spend the portal's HubSpot budget for a month.
    /// </summary>
    public int MaxNewHeldSessionsPerPortalPerHour { get; set; } = 200;
}

/// <summary>HubSpot app and API settings. Bound from the <c>HubSpot</c> section (<c>HubSpot__ClientId</c>, ...).</summary>
public sealed class HubSpotOptions
{
    public const string SectionName = "HubSpot";

    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    /// <summary>HubSpot accounts that may install the app, comma-separated; empty: any account.</summary>
    public string AllowedPortals { get; set; } = "";

    public bool MayInstall(long portalId) =>
        AllowedPortals.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is var allowed
        && (allowed.Length == 0 || allowed.Contains(portalId.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>The HubSpot app's id, for its media bridge settings (the setup command); webhooks of another app are ignored.</summary>
    public long? AppId { get; set; }

    /// <summary>
    /// The URL HubSpot sends the app's webhooks to, exactly as the app's <c>targetUrl</c> says (HubSpot signs it); empty:
    /// <c>/api/hubspot/webhooks</c> at the relay's public address (<c>Relay__PublicBaseUrl</c>, else <c>HubSpot__RedirectUri</c>'s).
    /// </summary>
    public string? WebhookUrl { get; set; }

    /// <summary>
    /// The developer account's key for app settings (HubSpot: "used when managing settings related to your HubSpot apps
    /// through the API"), sent as a bearer token as the date-versioned reference shows. Only the setup command uses it. A secret.
    /// </summary>
    public string? DeveloperApiKey { get; set; }

    /// <summary>The OAuth callback URL registered with the HubSpot app, e.g. https://relay.example.com/api/oauth/callback.</summary>
    public string? RedirectUri { get; set; }

    public Uri BaseUrl { get; set; } = new("https://api.hubapi.com");

    public Uri AuthorizeUrl { get; set; } = new("https://app.hubspot.com/oauth/authorize");

    /// <summary>With no HubSpot app configured the relay sends nothing: it logs and writes the events to <see cref="DryRunFile"/>.</summary>
    public bool DryRun => string.IsNullOrWhiteSpace(ClientId) || string.IsNullOrWhiteSpace(ClientSecret);

    public string DryRunFile { get; set; } = Path.Combine(".relay", "dry-run-events.jsonl");

    /// <summary>Requests per 10 s the relay allows itself per HubSpot account, below HubSpot's 100-110 for OAuth apps.</summary>
    public int RequestsPerTenSeconds { get; set; } = 90;

    /// <summary>How the relay's instances share each portal's pace: one bucket in table <c>quotas</c> (the default), or each alone.</summary>
    public HubSpot.BudgetMode Budget { get; set; } = HubSpot.BudgetMode.Shared;

    /// <summary>How many calls an instance takes from a portal's shared bucket at once (used within a quarter of a second, or lost).</summary>
    public int BudgetSlice { get; set; } = 2;

    /// <summary>A 429 whose Retry-After is longer than this goes back to the queue as a delayed message.</summary>
    public TimeSpan MaxInlineRetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Tokens expiring within this window are refreshed ahead of time.</summary>
    public TimeSpan RefreshWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the local host runs the token refresher (the Functions app uses its timer schedule).</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a portal without a usable token waits before its events are tried again.</summary>
    public TimeSpan NoTokenRetryDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a session's events wait for their portal to have a usable token (the app installed again) before they
    /// are given up and kept in the dead letters: counted in <see cref="NoTokenRetryDelay"/>s of retries.
    /// </summary>
    public TimeSpan GiveUpWithoutTokenAfter { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long to wait after HubSpot could not be reached or answered 5xx (after the quick retries).</summary>
    public TimeSpan OutageRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
