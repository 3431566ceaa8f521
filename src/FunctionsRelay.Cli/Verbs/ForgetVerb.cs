using System.CommandLine;
using System.Globalization;
using FunctionsRelay.Infrastructure.Privacy;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Cli.Verbs;

/// <summary><c>relay forget</c>: a privacy deletion of one viewer of a portal, as HubSpot's webhook makes one.</summary>
internal static class ForgetVerb
{
    public const string Synopsis = "relay forget --portal ID (--email EMAIL | --utk UTK | --contact-id ID) [--apply]";

    public const string Description = """
        A privacy deletion of one viewer of a portal, as HubSpot's contact.privacyDeletion webhook makes one: lists
        what the relay keeps of them (sessions, held or not, their dead letters, poisoned messages holding their
        beacons, their counts), following a contact id to the utks and emails that led to it and on to their sessions.
        --apply erases it all and keeps only a keyed hash of each name, so that beacons still on their way are dropped
        (docs/privacy.md). The viewer's name is never printed. Without --apply nothing changes.
        """;

    public static Command Create(IServiceProvider services, TextWriter output)
    {
        var portal = CliOptions.Portal();
        var email = CliOptions.Value("--email", "the viewer's email", text => text.Contains('@', StringComparison.Ordinal) ? ViewerName.OfEmail(text) : null, "--email: not an email");
        var utk = CliOptions.Value("--utk", "the viewer's hubspotutk", text => text.Length > 0 ? ViewerName.OfUtk(text) : null, "--utk: not a utk");
        var contactId = CliOptions.Id("--contact-id", "the viewer's HubSpot contact id");
        var apply = CliOptions.Apply("erase it all");
        var command = new Command("forget", Description) { portal, email, utk, contactId, apply };
        command.Needs(portal, "forget needs --portal");
        command.Validators.Add(result =>
        {
            if (new Option[] { email, utk, contactId }.Count(option => result.GetResult(option) is not null) != 1)
                result.AddError("forget needs one of --email, --utk or --contact-id");
        });
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var portalId = parsed.GetValue(portal)!.Value;
            var viewer = parsed.GetValue(email) ?? parsed.GetValue(utk) ?? ViewerName.OfContact(parsed.GetValue(contactId)!.Value);
            var applying = parsed.GetValue(apply);
            var report = await services.GetRequiredService<ViewerForgetting>().ForgetAsync(portalId, [viewer], applying, cancellationToken);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"portal {portalId}, {viewer}: {(applying ? "erased" : "found")} {report}"));
            if (!applying)
                await output.WriteLineAsync(report.FoundAny ? "--apply erases it all" : "nothing to erase; --apply still notes the viewer as forgotten");
            return RelayCli.Done;
        });
        return command;
    }
}
