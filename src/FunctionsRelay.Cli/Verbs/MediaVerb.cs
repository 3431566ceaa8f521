using System.CommandLine;
using System.Globalization;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Cli.Verbs;

/// <summary><c>relay media</c>: a portal's media objects brought in line with the integrator's catalog.</summary>
internal static class MediaVerb
{
    public const string Synopsis = "relay media --portal ID --file catalog.json [--apply]";

    public const string Description = """
        Brings the portal's media objects in line with your catalog: a JSON array of {"externalId", "type", "title",
        "duration" (seconds), "oembedUrl", "thumbnailUrl", "detailsUrl"}. Each is found (by its external id) and
        updated where its fields differ, or made. The one way a media object's title, duration or links change: what
        players' beacons say of a media may make its object, never change it (their key is public). Without --apply it
        checks the catalog and changes nothing. Exits 1 if HubSpot refused any.
        """;

    public static Command Create(IServiceProvider services, TextWriter output)
    {
        var portal = CliOptions.Portal();
        var file = CliOptions.Text("--file", "the catalog: a JSON array of media");
        var apply = CliOptions.Apply("make or update the objects");
        var command = new Command("media", Description) { portal, file, apply };
        command.Validators.Add(result =>
        {
            if (result.GetResult(portal) is null || result.GetResult(file) is null)
                result.AddError("media needs --portal and --file");
        });
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var (portalId, path) = (parsed.GetValue(portal)!.Value, parsed.GetValue(file)!);
            if (!File.Exists(path))
                return await RelayCli.UsageAsync(output, $"--file: {path} does not exist");
            var allowHttp = services.GetRequiredService<IOptions<BeaconLimits>>().Value.AllowHttpLinks;
            var (catalog, problems) = MediaCatalog.Parse(await File.ReadAllTextAsync(path, cancellationToken), allowHttp);
            if (problems.Count > 0)
            {
                foreach (var line in problems)
                    await output.WriteLineAsync(line);
                await output.WriteLineAsync($"{problems.Count} problem(s) in {path}; nothing was sent");
                return RelayCli.Usage;
            }

            if (!parsed.GetValue(apply))
            {
                foreach (var media in catalog)
                    await output.WriteLineAsync($"would bring {media.MediaType} {media.ExternalId} ({media.Title}) in line in portal {portalId}");
                await output.WriteLineAsync($"{catalog.Count} media in the catalog; --apply makes or updates their objects");
                return RelayCli.Done;
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
            return failed > 0 ? RelayCli.Failed : RelayCli.Done;
        });
        return command;
    }
}
