using System.CommandLine;
using System.Globalization;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Cli.Verbs;

/// <summary><c>relay portal</c>: a portal's keys, origins and choices, shown and changed.</summary>
internal static class PortalVerb
{
    public const string Synopsis = """
        relay portal --portal ID [--rotate [--grace 7.00:00:00]] [--origins https://a.example,https://b.example | *]
                     [--signing-secret] [--rotate-signing-secret [--grace 7.00:00:00]]
                     [--new-secret-key] [--revoke-secret-key KEYID [--grace 7.00:00:00]] [--create-contacts | --no-create-contacts]
                     [--media-from-catalog-only | --media-from-beacons]
        """;

    public const string Description = """
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
        """;

    private static readonly TimeSpan DefaultGrace = TimeSpan.FromDays(7);

    public static Command Create(IServiceProvider services, TextWriter output)
    {
        var portal = CliOptions.Portal();
        var rotate = CliOptions.Flag("--rotate", "a new publishable key; the old one stays valid for --grace");
        var grace = CliOptions.Grace();
        var origins = CliOptions.Text("--origins", "the origins whose pages may post the portal's beacons, comma-separated ('*': any)");
        var signingSecret = CliOptions.Flag("--signing-secret", "print the secret for signing contact ids (for the customer's backend only)");
        var rotateSigningSecret = CliOptions.Flag("--rotate-signing-secret", "a new signing secret; the old one's signatures count for --grace");
        var newSecretKey = CliOptions.Flag("--new-secret-key", "a new secret source key, printed this once");
        var revokeSecretKey = CliOptions.Text("--revoke-secret-key", "end a secret source key (by its id) now, or after --grace");
        var createContacts = CliOptions.Flag("--create-contacts", "an email HubSpot does not know becomes a new contact");
        var noCreateContacts = CliOptions.Flag("--no-create-contacts", "sessions of an email HubSpot does not know wait until it is a contact");
        var catalogOnly = CliOptions.Flag("--media-from-catalog-only", "media objects come from the portal's catalog alone");
        var fromBeacons = CliOptions.Flag("--media-from-beacons", "beacons may make new media's objects, within the portal's bounds");
        var command = new Command("portal", Description)
        {
            portal, rotate, grace, origins, signingSecret, rotateSigningSecret, newSecretKey, revokeSecretKey, createContacts, noCreateContacts, catalogOnly, fromBeacons,
        };
        command.Needs(portal, "--portal is required");
        command.Exclusive(createContacts, noCreateContacts);
        command.Exclusive(catalogOnly, fromBeacons);
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var portalId = parsed.GetValue(portal)!.Value;
            var graceGiven = parsed.GetValue(grace);
            var store = services.GetRequiredService<PortalTokenStore>();
            var access = await store.GetAccessAsync(portalId, cancellationToken);
            if (access is not null && parsed.GetValue(origins) is { } allowed)
                access = await store.SetOriginsAsync(portalId, allowed.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), cancellationToken);
            if (access is not null && parsed.GetValue(rotate))
                access = await store.RotateKeyAsync(portalId, graceGiven ?? DefaultGrace, cancellationToken);
            if (access is not null && parsed.GetValue(rotateSigningSecret))
                access = await store.RotateSigningSecretAsync(portalId, graceGiven ?? DefaultGrace, cancellationToken);
            if (access is not null && (parsed.GetValue(createContacts) || parsed.GetValue(noCreateContacts)))
                access = await store.SetCreateContactsAsync(portalId, parsed.GetValue(createContacts), cancellationToken);
            if (access is not null && (parsed.GetValue(catalogOnly) || parsed.GetValue(fromBeacons)))
                access = await store.SetMediaFromCatalogOnlyAsync(portalId, parsed.GetValue(catalogOnly), cancellationToken);
            string? madeKey = null;
            if (access is not null && parsed.GetValue(newSecretKey))
                madeKey = (await store.AddSecretKeyAsync(portalId, cancellationToken))?.Key;
            var revoked = parsed.GetValue(revokeSecretKey);
            // Alone, a revocation ends the key now; with --grace (a rotation), after it.
            if (access is not null && revoked is not null && !await store.RevokeSecretKeyAsync(portalId, revoked, graceGiven ?? TimeSpan.Zero, cancellationToken))
            {
                await output.WriteLineAsync($"portal {portalId} has no secret source key {revoked} (relay portal --portal {portalId} lists them)");
                return RelayCli.Failed;
            }

            if (madeKey is not null || revoked is not null)
                access = await store.GetAccessAsync(portalId, cancellationToken);
            if (access is null)
            {
                await output.WriteLineAsync($"portal {portalId} has not installed the app: it has no key (install it at /api/oauth/install)");
                return RelayCli.Failed;
            }

            await ShowAsync(output, access, parsed.GetValue(signingSecret) || parsed.GetValue(rotateSigningSecret), services.GetRequiredService<TimeProvider>().GetUtcNow());
            if (madeKey is not null)
                await output.WriteLineAsync($"new secret source key (shown this once; give it to the sender's backend or mParticle's Authorization header only): {madeKey}");
            return RelayCli.Done;
        });
        return command;
    }

    private static async Task ShowAsync(TextWriter output, PortalAccess access, bool signingSecret, DateTimeOffset now)
    {
        await output.WriteLineAsync($"portal {access.PortalId}");
        await output.WriteLineAsync($"key: {access.Key}");
        if (access.PreviousKey is not null && access.PreviousKeyUntil is { } until)
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"previous key: {access.PreviousKey} (valid until {until:u})"));
        await output.WriteLineAsync($"origins: {(access.Origins.Count == 0 ? "the relay's (Relay__AllowedOrigins)" : string.Join(", ", access.Origins))}");
        if (signingSecret)
            await output.WriteLineAsync($"signing secret (for the customer's backend only): {access.SigningSecret ?? "none: install the app again to make one"}");
        await output.WriteLineAsync($"create contacts for unknown emails: {(access.CreatesContacts ? "yes" : "no")}");
        await output.WriteLineAsync($"media objects: {(access.MediaFromCatalogOnly ? "from its catalog only (relay media)" : "from its catalog, and from beacons naming new media (bounded)")}");
        foreach (var key in access.SecretKeys ?? [])
        {
            var state = key.ValidUntil is not { } keyUntil ? "valid"
                : (keyUntil > now ? "valid until " : "revoked ") + keyUntil.ToString("u", CultureInfo.InvariantCulture);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"secret source key {key.Id}: made {key.CreatedAt:u}, {state}"));
        }
    }
}
