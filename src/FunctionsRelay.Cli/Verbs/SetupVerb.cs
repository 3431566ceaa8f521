using System.CommandLine;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Cli.Verbs;

/// <summary><c>relay setup</c>: the HubSpot app's media bridge settings, then optionally one event of each kind for a test contact.</summary>
internal static class SetupVerb
{
    public const string Synopsis = """
        relay setup [--app-id ID] [--media-types VIDEO,AUDIO] [--app-name NAME]
                    [--check --portal ID (--utk UTK | --contact-id ID)]
        """;

    public const string Description = """
        Registers the HubSpot app's media bridge settings, each only if it is not so already: object definitions for
        the media types, the app's name, event visibility (timelines, reports, workflows), and this relay's oEmbed
        endpoint (Relay__PublicBaseUrl, Relay__OEmbedHosts) as an oEmbed domain. Needs HubSpot__DeveloperApiKey and
        HubSpot__AppId (or --app-id).
        --check then sends one event of each kind for a test contact of an installed portal to HubSpot's v1 event
        endpoints, which answer errors at once, and prints HubSpot's answers (needs the relay's storage, with the
        portal's tokens: AzureWebJobsStorage).
        """;

    private static readonly string[] KnownMediaTypes = ["VIDEO", "AUDIO", "DOCUMENT", "IMAGE", "OTHER"];

    public static Command Create(IServiceProvider services, TextWriter output)
    {
        var appId = CliOptions.Id("--app-id", "the HubSpot app's id (else HubSpot__AppId)");
        var mediaTypes = new Option<IReadOnlyList<string>>("--media-types")
        {
            Description = "the media types to define objects for, comma-separated (VIDEO,AUDIO when not given)",
            DefaultValueFactory = _ => ["VIDEO", "AUDIO"],
            CustomParser = result =>
            {
                var types = result.Tokens[0].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(type => type.ToUpperInvariant()).ToList();
                if (types.FirstOrDefault(type => !KnownMediaTypes.Contains(type)) is { } unknown)
                    result.AddError($"--media-types: {unknown} is not one of {string.Join(", ", KnownMediaTypes)}");
                return types;
            },
        };
        var appName = CliOptions.Text("--app-name", "the app's name as HubSpot shows it beside media events");
        var check = CliOptions.Flag("--check", "then send one event of each kind for a test contact of --portal");
        var portal = CliOptions.Portal();
        var utk = CliOptions.Text("--utk", "the test contact's hubspotutk");
        var contactId = CliOptions.Id("--contact-id", "the test contact's id");
        var command = new Command("setup", Description) { appId, mediaTypes, appName, check, portal, utk, contactId };
        command.Validators.Add(result =>
        {
            if (result.GetValue(check) && (result.GetResult(portal) is null || (result.GetResult(utk) is null && result.GetResult(contactId) is null)))
                result.AddError("--check needs --portal and --utk or --contact-id");
        });
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var hubSpot = services.GetRequiredService<IOptions<HubSpotOptions>>().Value;
            if ((parsed.GetValue(appId) ?? hubSpot.AppId) is not { } app)
                return await RelayCli.UsageAsync(output, "--app-id (or HubSpot__AppId) is required");
            var oembed = services.GetRequiredService<OEmbedLinks>();
            if (oembed.EndpointUrl() is null)
                await output.WriteLineAsync("note: Relay__PublicBaseUrl (or HubSpot__RedirectUri) is not set: no oEmbed domain is registered");
            var steps = await services.GetRequiredService<MediaBridgeAppSettings>().ApplyAsync(
                new AppSettingsRequest(app, parsed.GetValue(mediaTypes)!, parsed.GetValue(appName), oembed.EndpointUrl(), oembed.Schemes()), cancellationToken);
            foreach (var step in steps)
                await output.WriteLineAsync($"{(step.Succeeded ? "ok  " : "FAIL")} {step.Setting}: {step.Outcome}");
            var succeeded = steps.All(step => step.Succeeded);

            if (parsed.GetValue(check) && parsed.GetValue(portal) is { } portalId && succeeded)
            {
                await output.WriteLineAsync($"check: one event of each kind for portal {portalId}, to HubSpot's synchronous v1 endpoints");
                var answers = await services.GetRequiredService<MediaBridgeCheck>().RunAsync(portalId, parsed.GetValue(contactId), parsed.GetValue(utk), cancellationToken);
                foreach (var answer in answers)
                    await output.WriteLineAsync($"{(answer.Accepted ? "ok  " : "FAIL")} {answer.Event}: {answer.Status} {answer.Answer}");
                succeeded = answers.All(answer => answer.Accepted);
            }

            return succeeded ? RelayCli.Done : RelayCli.Failed;
        });
        return command;
    }
}
