using System.Globalization;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Protection;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Cli;

/// <summary>The verbs of <c>relay</c>. Exit codes: 0 done, 1 HubSpot (or storage) refused a step, 2 the command line is wrong.</summary>
public static class RelayCli
{
    public const int Done = 0;
    public const int Failed = 1;
    public const int Usage = 2;

    private const string Help = """
        relay: the FunctionsRelay operator's command line.

        relay setup [--app-id ID] [--media-types VIDEO,AUDIO] [--app-name NAME]
                    [--check --portal ID (--utk UTK | --contact-id ID)]

          Registers the HubSpot app's media bridge settings, each only if it is not so already: object definitions for
          the media types, the app's name, event visibility (timelines, reports, workflows), and this relay's oEmbed
          endpoint (Relay__PublicBaseUrl, Relay__OEmbedHosts) as an oEmbed domain. Needs HubSpot__DeveloperApiKey and
          HubSpot__AppId (or --app-id).
          --check then sends one event of each kind for a test contact of an installed portal to HubSpot's v1 event
          endpoints, which answer errors at once, and prints HubSpot's answers (needs the relay's storage, with the
          portal's tokens: AzureWebJobsStorage).

        relay portal --portal ID [--rotate [--grace 7.00:00:00]] [--origins https://a.example,https://b.example | *]
                     [--signing-secret] [--rotate-signing-secret [--grace 7.00:00:00]]
                     [--new-secret-key] [--revoke-secret-key KEYID [--grace 7.00:00:00]] [--create-contacts | --no-create-contacts]
                     [--media-from-catalog-only | --media-from-beacons]

          Shows a portal's publishable key (its players send it: the X-Relay-Key header or ?key=) and the origins whose
          pages may post its beacons (none: the relay's own Relay__AllowedOrigins). --rotate gives it a new key; the one
          it had stays valid for --grace (7 days), for players to be updated. --origins sets the origins ('*': any).
          --signing-secret also prints the portal's secret for signing contact ids: give it to the customer's backend
          only. --rotate-signing-secret makes a new one (and prints it); signatures by the old one count for --grace.
          Secret source keys are for backends and mParticle's Webhook output (Authorization: Bearer sk_...): they name
          viewers by email or contact id. --new-secret-key makes one and prints it this once (only its hash is kept);
          --revoke-secret-key ends one at once, or after --grace (rotate: a new key, then revoke the old with a grace).
          --create-contacts lets an email HubSpot does not know become a new contact (scope crm.objects.contacts.write);
          --no-create-contacts holds such sessions until the email is a contact. --media-from-catalog-only: media objects
          come from the portal's catalog alone (relay media), never from what beacons name (a page's key is public);
          --media-from-beacons: beacons may make new media's objects again, within the portal's bounds.
          Exits 1 for a portal that never installed the app.

        relay media --portal ID --file catalog.json [--apply]

          Brings the portal's media objects in line with your catalog: a JSON array of {"externalId", "type", "title",
          "duration" (seconds), "oembedUrl", "thumbnailUrl", "detailsUrl"}. Each is found (by its external id) and
          updated where its fields differ, or made. The one way a media object's title, duration or links change: what
          players' beacons say of a media may make its object, never change it (their key is public). Without --apply it
          checks the catalog and changes nothing. Exits 1 if HubSpot refused any.

        relay status [--portal ID]

          Each portal's state from the relay's storage: its HubSpot token (connected, refresh due, disconnected since),
          sessions open and closed, events waiting in their outboxes, dead letters, poisoned messages; then its counters
          of the last hour and day as the relay exported them (Relay__MetricsTable): beacons accepted, requests refused
          by reason, sessions opened and closed, events decided, delivered and dead-lettered, delivery latency p50/p95,
          HubSpot's answers by status. The same figures as the local host's operator view (/operator).

        relay deadletters [--portal ID] [--session ID] [--status N] [--since 2026-11-01] [--until 2026-11-02] [--apply]

          Lists the events HubSpot refused (or the relay gave up on without a token), oldest first, with HubSpot's
          answer. --apply puts each back into its session's outbox, once, and the relay sends it as any other event:
          run it after the cause is fixed. Without --apply nothing changes.

        relay rederive [--portal ID] [--since 2026-11-01] [--until 2026-11-02] [--apply]

          After a fix to the session rules (Sessions__*), recomputes the events of closed sessions from their stored beacon
          logs and compares them with what each decided: the events now due that were never sent, and the ones sent that
          would not be now. --apply sends only the missing ones, through each session's outbox; HubSpot has no delete, so
          nothing it may have is sent again. Prints the audit; without --apply nothing changes.

        relay poison [--portal ID] [--session ID] [--apply]

          Lists the queue messages the relay gave up on after their last attempt (kept from the poison queues in the
          Relay__PoisonedTable table), oldest first: the queue, the portal, the session and how many beacons each holds.
          --apply puts each back on its queue, once, to be handled again after the cause is fixed (beacons already merged
          are dropped as duplicates). Without --apply nothing changes.

        relay --help
        """;

    /// <summary>
    /// The relay's services as the command uses them: the hosts' own, except that it never makes a key of the key ring
    /// (the hosts do, on first use): a command run against the wrong settings must not add a key every instance then uses.
    /// </summary>
    public static IServiceCollection AddRelayCommand(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddLogging().AddRelay(configuration);
        services.Configure<KeyManagementOptions>(options => options.AutoGenerateKeys = false);
        return services;
    }

    public static async Task<int> RunAsync(string[] args, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        try
        {
            // The settings are checked first, as the hosts check them at start.
            _ = services.GetRequiredService<IOptions<RelayOptions>>().Value;
            _ = services.GetRequiredService<IOptions<HubSpotOptions>>().Value;
            return await RunVerbAsync(args, services, output, cancellationToken);
        }
        catch (Exception ex) when (SettingsProblem(ex) is { } problem)
        {
            await output.WriteLineAsync($"relay: {problem.Message}");
            return Usage;
        }
        catch (Exception ex) when (MissingStorage.IsMissing(ex))
        {
            await output.WriteLineAsync($"relay: the relay's storage has no such queue or table ({(ex as Azure.RequestFailedException)?.ErrorCode}): start the relay once (it makes them), or check AzureWebJobsStorage and the Relay__*Table and Relay__*Queue settings");
            return Failed;
        }
        catch (Exception ex) when (StorageClients.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            await output.WriteLineAsync($"relay: the relay's storage could not be reached or refused the request ({StorageProblem(ex)}): check AzureWebJobsStorage (for Azurite: UseDevelopmentStorage=true, with Azurite running)");
            return Failed;
        }
    }

    /// <summary>What storage said, without the request: its error code and status, or why there was no answer.</summary>
    private static string StorageProblem(Exception ex) => ex switch
    {
        Azure.RequestFailedException { Status: 0, InnerException: { } cause } => StorageProblem(cause),
        Azure.RequestFailedException failed => $"{failed.Status} {failed.ErrorCode}".Trim(),
        AggregateException aggregate when aggregate.InnerExceptions.Count > 0 => StorageProblem(aggregate.InnerExceptions[0]),
        _ => ex.GetType().Name + (ex.InnerException is { } inner ? ": " + inner.Message : ": " + ex.Message),
    };

    /// <summary>A setting the command cannot run with, however deep Data Protection wrapped it.</summary>
    private static Exception? SettingsProblem(Exception? ex) => ex switch
    {
        null => null,
        OptionsValidationException or KeyRingMisconfiguredException => ex,
        _ => SettingsProblem(ex.InnerException),
    };

    private static async Task<int> RunVerbAsync(string[] args, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            await output.WriteLineAsync(Help);
            return args.Length == 0 ? Usage : Done;
        }

        return args[0] switch
        {
            "setup" => await SetupAsync(Options.Parse("setup", args[1..], ["check"], ["app-id", "media-types", "app-name", "portal", "utk", "contact-id"]), services, output, cancellationToken),
            "portal" => await PortalAsync(
                Options.Parse("portal", args[1..], ["rotate", "signing-secret", "rotate-signing-secret", "new-secret-key", "create-contacts", "no-create-contacts", "media-from-catalog-only", "media-from-beacons"], ["portal", "grace", "origins", "revoke-secret-key"]),
                services,
                output,
                cancellationToken),
            "media" => await MediaAsync(Options.Parse("media", args[1..], ["apply"], ["portal", "file"]), services, output, cancellationToken),
            "status" => await StatusAsync(Options.Parse("status", args[1..], [], ["portal"]), services, output, cancellationToken),
            "deadletters" => await DeadLettersAsync(Options.Parse("deadletters", args[1..], ["apply"], ["portal", "session", "status", "since", "until"]), services, output, cancellationToken),
            "rederive" => await RederiveAsync(Options.Parse("rederive", args[1..], ["apply"], ["portal", "since", "until"]), services, output, cancellationToken),
            "poison" => await PoisonAsync(Options.Parse("poison", args[1..], ["apply"], ["portal", "session"]), services, output, cancellationToken),
            _ => await UsageAsync(output, $"unknown verb '{args[0]}'"),
        };
    }

    private static async Task<int> SetupAsync(Options options, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (options.Problem is { } problem)
            return await UsageAsync(output, problem);
        var hubSpot = services.GetRequiredService<IOptions<HubSpotOptions>>().Value;
        if ((options.Long("app-id") ?? hubSpot.AppId) is not { } appId)
            return await UsageAsync(output, "--app-id (or HubSpot__AppId) is required");
        var mediaTypes = (options.Value("media-types") ?? "VIDEO,AUDIO").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(type => type.ToUpperInvariant()).ToList();
        if (mediaTypes.FirstOrDefault(type => type is not ("VIDEO" or "AUDIO" or "DOCUMENT" or "IMAGE" or "OTHER")) is { } unknown)
            return await UsageAsync(output, $"--media-types: {unknown} is not one of VIDEO, AUDIO, DOCUMENT, IMAGE, OTHER");
        long? portal = null;
        long? contactId = null;
        if (options.Flag("check"))
        {
            portal = options.Long("portal");
            contactId = options.Long("contact-id");
            if (portal is null || (contactId is null && options.Value("utk") is null))
                return await UsageAsync(output, "--check needs --portal and --utk or --contact-id");
        }

        var oembed = services.GetRequiredService<OEmbedEndpoint>();
        if (oembed.EndpointUrl() is null)
            await output.WriteLineAsync("note: Relay__PublicBaseUrl (or HubSpot__RedirectUri) is not set: no oEmbed domain is registered");
        var steps = await services.GetRequiredService<MediaBridgeAppSettings>().ApplyAsync(
            new AppSettingsRequest(appId, mediaTypes, options.Value("app-name"), oembed.EndpointUrl(), oembed.Schemes()), cancellationToken);
        foreach (var step in steps)
            await output.WriteLineAsync($"{(step.Succeeded ? "ok  " : "FAIL")} {step.Setting}: {step.Outcome}");
        var succeeded = steps.All(step => step.Succeeded);

        if (portal is { } portalId && succeeded)
        {
            await output.WriteLineAsync($"check: one event of each kind for portal {portalId}, to HubSpot's synchronous v1 endpoints");
            var answers = await services.GetRequiredService<MediaBridgeCheck>().RunAsync(portalId, contactId, options.Value("utk"), cancellationToken);
            foreach (var answer in answers)
                await output.WriteLineAsync($"{(answer.Accepted ? "ok  " : "FAIL")} {answer.Event}: {answer.Status} {answer.Answer}");
            succeeded = answers.All(answer => answer.Accepted);
        }

        return succeeded ? Done : Failed;
    }

    private static async Task<int> MediaAsync(Options options, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (options.Problem is { } problem)
            return await UsageAsync(output, problem);
        if (options.Long("portal") is not { } portalId || options.Value("file") is not { } file)
            return await UsageAsync(output, "media needs --portal and --file");
        if (!File.Exists(file))
            return await UsageAsync(output, $"--file: {file} does not exist");
        var allowHttp = services.GetRequiredService<IOptions<FunctionsRelay.Domain.Beacons.BeaconLimits>>().Value.AllowHttpLinks;
        var (catalog, problems) = FunctionsRelay.Domain.HubSpot.MediaCatalog.Parse(await File.ReadAllTextAsync(file, cancellationToken), allowHttp);
        if (problems.Count > 0)
        {
            foreach (var line in problems)
                await output.WriteLineAsync(line);
            await output.WriteLineAsync($"{problems.Count} problem(s) in {file}; nothing was sent");
            return Usage;
        }

        if (!options.Flag("apply"))
        {
            foreach (var media in catalog)
                await output.WriteLineAsync($"would bring {media.MediaType} {media.ExternalId} ({media.Title}) in line in portal {portalId}");
            await output.WriteLineAsync($"{catalog.Count} media in the catalog; --apply makes or updates their objects");
            return Done;
        }

        var objects = services.GetRequiredService<MediaObjectService>();
        var failed = 0;
        foreach (var media in catalog)
        {
            var resolved = await objects.FromCatalogAsync(portalId, media, cancellationToken);
            failed += resolved.ObjectId is null ? 1 : 0;
            await output.WriteLineAsync(resolved.ObjectId is { } id
                ? $"{media.MediaType} {media.ExternalId}: object {id.ToString(CultureInfo.InvariantCulture)} {resolved.Change switch { MediaChange.Made => "made", MediaChange.Updated => "updated", _ => "unchanged" }}"
                : $"{media.MediaType} {media.ExternalId}: not done: {resolved.Result.Outcome} {resolved.Result.Answer}");
        }

        await output.WriteLineAsync($"{catalog.Count - failed} of {catalog.Count} media in line in portal {portalId}");
        return failed > 0 ? 1 : Done;
    }

    private static async Task<int> PortalAsync(Options options, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (options.Problem is { } problem)
            return await UsageAsync(output, problem);
        if (options.Long("portal") is not { } portalId)
            return await UsageAsync(output, "--portal is required");
        var grace = TimeSpan.FromDays(7);
        if (options.Value("grace") is { } graceText && (!TimeSpan.TryParse(graceText, CultureInfo.InvariantCulture, out grace) || grace < TimeSpan.Zero))
            return await UsageAsync(output, "--grace must be a time span such as 7.00:00:00");
        if (options.Flag("create-contacts") && options.Flag("no-create-contacts"))
            return await UsageAsync(output, "--create-contacts and --no-create-contacts exclude each other");
        if (options.Flag("media-from-catalog-only") && options.Flag("media-from-beacons"))
            return await UsageAsync(output, "--media-from-catalog-only and --media-from-beacons exclude each other");
        var store = services.GetRequiredService<PortalTokenStore>();
        var access = await store.GetAccessAsync(portalId, cancellationToken);
        if (access is not null && options.Value("origins") is { } origins)
            access = await store.SetOriginsAsync(portalId, origins.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), cancellationToken);
        if (access is not null && options.Flag("rotate"))
            access = await store.RotateKeyAsync(portalId, grace, cancellationToken);
        if (access is not null && options.Flag("rotate-signing-secret"))
            access = await store.RotateSigningSecretAsync(portalId, grace, cancellationToken);
        if (access is not null && (options.Flag("create-contacts") || options.Flag("no-create-contacts")))
            access = await store.SetCreateContactsAsync(portalId, options.Flag("create-contacts"), cancellationToken);
        if (access is not null && (options.Flag("media-from-catalog-only") || options.Flag("media-from-beacons")))
            access = await store.SetMediaFromCatalogOnlyAsync(portalId, options.Flag("media-from-catalog-only"), cancellationToken);
        string? newSecretKey = null;
        if (access is not null && options.Flag("new-secret-key"))
            newSecretKey = (await store.AddSecretKeyAsync(portalId, cancellationToken))?.Key;
        if (access is not null && options.Value("revoke-secret-key") is { } revoked)
        {
            // Alone, a revocation ends the key now; with --grace (a rotation), after it.
            if (!await store.RevokeSecretKeyAsync(portalId, revoked, options.Value("grace") is null ? TimeSpan.Zero : grace, cancellationToken))
            {
                await output.WriteLineAsync($"portal {portalId} has no secret source key {revoked} (relay portal --portal {portalId} lists them)");
                return Failed;
            }
        }

        if (newSecretKey is not null || options.Value("revoke-secret-key") is not null)
            access = await store.GetAccessAsync(portalId, cancellationToken);
        if (access is null)
        {
            await output.WriteLineAsync($"portal {portalId} has not installed the app: it has no key (install it at /api/oauth/install)");
            return Failed;
        }

        await output.WriteLineAsync($"portal {portalId}");
        await output.WriteLineAsync($"key: {access.Key}");
        if (access.PreviousKey is not null && access.PreviousKeyUntil is { } until)
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"previous key: {access.PreviousKey} (valid until {until:u})"));
        await output.WriteLineAsync($"origins: {(access.Origins.Count == 0 ? "the relay's (Relay__AllowedOrigins)" : string.Join(", ", access.Origins))}");
        if (options.Flag("signing-secret") || options.Flag("rotate-signing-secret"))
            await output.WriteLineAsync($"signing secret (for the customer's backend only): {access.SigningSecret ?? "none: install the app again to make one"}");
        await output.WriteLineAsync($"create contacts for unknown emails: {(access.CreatesContacts ? "yes" : "no")}");
        await output.WriteLineAsync($"media objects: {(access.MediaFromCatalogOnly ? "from its catalog only (relay media)" : "from its catalog, and from beacons naming new media (bounded)")}");
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        foreach (var key in access.SecretKeys ?? [])
        {
            var state = key.ValidUntil is not { } keyUntil ? "valid"
                : (keyUntil > now ? "valid until " : "revoked ") + keyUntil.ToString("u", CultureInfo.InvariantCulture);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"secret source key {key.Id}: made {key.CreatedAt:u}, {state}"));
        }

        if (newSecretKey is not null)
            await output.WriteLineAsync($"new secret source key (shown this once; give it to the sender's backend or mParticle's Authorization header only): {newSecretKey}");
        return Done;
    }

    private static async Task<int> StatusAsync(Options options, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (options.Problem is { } problem)
            return await UsageAsync(output, problem);
        var (at, portals) = await services.GetRequiredService<PortalHealthReport>().ReadAsync(options.Long("portal"), cancellationToken);
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"as of {at:u}"));
        await output.WriteLineAsync("portal      open  closed  waiting  at pace  dead letters  poisoned  token");
        foreach (var line in portals.Select(portal => portal.State).OfType<PortalStatusLine>())
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{line.PortalId,-10} {line.OpenSessions,5} {line.ClosedSessions,7} {line.EventsWaiting,8} {line.BacklogMinutes,5:F1} min {line.DeadLetters,13} {line.Poisoned,9}  {line.Token}"));
        foreach (var portal in portals.Where(portal => portal.Figures is not null))
        {
            await output.WriteLineAsync(portal.PortalId is { } id ? $"portal {id}" : "no portal named (refused before a portal was known)");
            await output.WriteLineAsync("  last hour: " + Describe(portal.Figures!.LastHour));
            await output.WriteLineAsync("  last day:  " + Describe(portal.Figures.LastDay));
        }

        await output.WriteLineAsync($"{portals.Count(portal => portal.PortalId is not null)} portal(s)");
        return Done;
    }

    /// <summary>The counters of a time, in one line: what came in, what was refused and why, what went to HubSpot and how fast.</summary>
    private static string Describe(FigureTotals figures)
    {
        static string ByName(IReadOnlyDictionary<string, long> counts) =>
            counts.Count == 0 ? "" : " (" + string.Join(", ", counts.Select(count => $"{count.Key} {count.Value}")) + ")";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"beacons {figures["beacons.accepted"]} accepted, {figures.Total("requests.refused")} requests refused{ByName(figures.By("requests.refused"))}; " +
            $"sessions {figures["sessions.opened"]} opened, {figures.Total("sessions.closed")} closed; " +
            $"events {figures["events.decided"]} decided, {figures.Delivered} delivered, {figures["events.dead_lettered"]} dead-lettered; " +
            $"anonymous viewers: {figures["sessions.held"]} sessions held, {figures.Total("events.dropped")} events dropped; " +
            $"latency p50 {figures.P50Shown}, p95 {figures.P95Shown}; HubSpot answers{(figures.By("hubspot.answers") is { Count: > 0 } answers ? ByName(answers) : " none")}; " +
            $"poisoned {figures["messages.poisoned"]}");
    }

    private static async Task<int> DeadLettersAsync(Options options, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (options.Problem is { } problem)
            return await UsageAsync(output, problem);
        if (DatesOf(options) is not var (since, until))
            return await UsageAsync(output, "--since and --until must be dates (2026-11-01) or times (2026-11-01T12:00Z)");
        int? status = options.Value("status") is { } statusText ? int.TryParse(statusText, CultureInfo.InvariantCulture, out var parsed) ? parsed : -1 : null;
        if (status < 0)
            return await UsageAsync(output, "--status must be an HTTP status (0 for the events given up on without a token)");

        var replay = services.GetRequiredService<FunctionsRelay.Infrastructure.Processing.DeadLetterReplay>();
        var chosen = await replay.ListAsync(new(options.Long("portal"), options.Value("session"), status, since, until), cancellationToken);
        var apply = options.Flag("apply");
        var failed = 0;
        foreach (var letter in chosen)
        {
            var line = string.Create(CultureInfo.InvariantCulture, $"{letter.Event} of session {letter.PortalId}/{letter.SessionId}, refused {letter.RejectedAt:u} with {letter.Status}: {letter.Answer}");
            if (!apply)
            {
                await output.WriteLineAsync($"would put back {line}");
                continue;
            }

            var (done, outcome) = await replay.ReplayAsync(letter, cancellationToken);
            failed += done ? 0 : 1;
            await output.WriteLineAsync($"{(done ? "put back" : "NOT put back")} {line}: {outcome}");
        }

        await output.WriteLineAsync($"{chosen.Count} dead letter(s){(apply || chosen.Count == 0 ? "" : "; --apply puts them back")}");
        return failed == 0 ? Done : Failed;
    }

    private static async Task<int> RederiveAsync(Options options, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (options.Problem is { } problem)
            return await UsageAsync(output, problem);
        if (DatesOf(options) is not var (since, until))
            return await UsageAsync(output, "--since and --until must be dates (2026-11-01) or times (2026-11-01T12:00Z)");
        var rederive = services.GetRequiredService<FunctionsRelay.Infrastructure.Processing.SessionRederive>();
        var compared = await rederive.CompareAsync(options.Long("portal"), since, until, cancellationToken);
        var apply = options.Flag("apply");
        var (missing, extra, sent) = (0, 0, 0);
        for (var i = 0; i < compared.Count; i++)
        {
            var session = compared[i];
            missing += session.Missing.Count;
            extra += session.NoLongerDue.Count;
            if (session.Missing.Count == 0 && session.NoLongerDue.Count == 0)
                continue;
            var added = apply && session.Missing.Count > 0 ? await rederive.ApplyAsync(session, cancellationToken) : 0;
            sent += added;
            await output.WriteLineAsync(
                $"session {session.PortalId}/{session.SessionId}: missing [{string.Join(", ", session.Missing.Select(e => e.Key))}]{(apply ? $" ({added} sent now)" : "")}; " +
                $"sent but no longer due [{string.Join(", ", session.NoLongerDue)}]");
            if ((i + 1) % 500 == 0)
                await output.WriteLineAsync($"... {i + 1} of {compared.Count} sessions compared");
        }

        await output.WriteLineAsync(
            $"{compared.Count} closed session(s) compared: {missing} event(s) missing{(apply ? $", {sent} sent now" : missing > 0 ? " (--apply sends them)" : "")}, {extra} sent but no longer due");
        return Done;
    }

    /// <summary>The --since and --until dates, or null when either is given but no date.</summary>
    private static (DateTimeOffset? Since, DateTimeOffset? Until)? DatesOf(Options options)
    {
        DateTimeOffset? Date(string name) => options.Value(name) is { } text
            ? DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date) ? date : DateTimeOffset.MinValue
            : null;
        var (since, until) = (Date("since"), Date("until"));
        return since == DateTimeOffset.MinValue || until == DateTimeOffset.MinValue ? null : (since, until);
    }

    private static async Task<int> PoisonAsync(Options options, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (options.Problem is { } problem)
            return await UsageAsync(output, problem);
        var store = services.GetRequiredService<PoisonedMessageStore>();
        var apply = options.Flag("apply");
        var kept = await store.ListAsync(options.Long("portal"), options.Value("session"), cancellationToken);
        foreach (var message in kept)
        {
            if (apply)
                await store.ReplayAsync(message, cancellationToken);
            await output.WriteLineAsync(string.Create(
                CultureInfo.InvariantCulture,
                $"{(apply ? "put back" : "would put back")} {message.MessageId} on {message.Queue}: portal {message.PortalId?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}, session {message.SessionId ?? "unknown"}, {message.Beacons} beacons ({message.Kind?.ToString() ?? "unreadable"}), poisoned {message.PoisonedAt:u}"));
        }

        await output.WriteLineAsync($"{kept.Count} poisoned message(s){(apply || kept.Count == 0 ? "" : "; --apply puts them back")}");
        return Done;
    }

    private static async Task<int> UsageAsync(TextWriter output, string problem)
    {
        await output.WriteLineAsync($"relay: {problem}\n\n{Help}");
        return Usage;
    }

    /// <summary><c>--name value</c> pairs and bare <c>--flag</c>s.</summary>
    private sealed class Options
    {
        private readonly Dictionary<string, string?> _values = [];

        public string? Problem { get; private set; }

        public static Options Parse(string verb, string[] args, string[] flags, string[] valued)
        {
            var options = new Options();
            for (var i = 0; i < args.Length && options.Problem is null; i++)
            {
                var name = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : null;
                if (name is not null && flags.Contains(name))
                    options._values[name] = null;
                else if (name is not null && valued.Contains(name) && i + 1 < args.Length)
                    options._values[name] = args[++i];
                else
                    options.Problem = $"'{args[i]}' is not an option of {verb}" + (name is not null && valued.Contains(name) ? " without its value" : "");
            }

            if (options.Problem is null && options._values.FirstOrDefault(v => v.Key is "app-id" or "portal" or "contact-id" && !long.TryParse(v.Value, NumberStyles.None, CultureInfo.InvariantCulture, out _)) is { Key: { } bad })
                options.Problem = $"--{bad} must be a positive integer";
            return options;
        }

        public bool Flag(string name) => _values.ContainsKey(name);

        public string? Value(string name) => _values.GetValueOrDefault(name);

        public long? Long(string name) => Value(name) is { } text ? long.Parse(text, CultureInfo.InvariantCulture) : null;
    }
}
