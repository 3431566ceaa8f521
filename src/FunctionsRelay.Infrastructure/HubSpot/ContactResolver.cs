using FunctionsRelay.Domain.HubSpot;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

public enum UtkState
{
    /// <summary>HubSpot knows the utk as a contact: its events are kept.</summary>
    Contact,

    /// <summary>HubSpot does not know the utk as a contact (a visitor who has not converted): its events would be dropped.</summary>
    NotContact,

    /// <summary>HubSpot could not say now (rate limit, outage, no token): ask again later.</summary>
    AskLater,

    /// <summary>The relay cannot ask (the portal did not grant the contacts read scope, or a dry run): sent as before, unchecked.</summary>
    Unchecked,
}

/// <summary>
/// What HubSpot says of a utk; for <see cref="UtkState.AskLater"/>, <see cref="Unanswered"/> is why (a rate limit, an
/// outage, no usable token), to be handled as a send that met it would be. <see cref="ContactId"/>: the contact's id,
/// when HubSpot named it (what a privacy deletion later names the viewer by).
/// </summary>
public sealed record UtkResolution(UtkState State, DeliveryResult? Unanswered = null, long? ContactId = null);

/// <summary>
/// What HubSpot says of an email: the contact's id (<see cref="UtkState.Contact"/>), no contact, ask later (with why), or
/// unchecked (the portal did not grant the read scope): an email with no contact id to send has nothing to link to.
/// </summary>
public sealed record EmailResolution(UtkState State, long? ContactId = null, DeliveryResult? Unanswered = null);

/// <summary>
/// Whether a <c>hubspotutk</c> is a HubSpot contact, by HubSpot's "get a contact by its user token" endpoint
/// (<c>GET /contacts/v1/contact/utk/{utk}/profile</c>, scope <c>crm.objects.contacts.read</c>, which the app asks for as
/// an optional scope). Answers are cached per portal and utk: a contact for a day (a contact stays one), not a contact
/// for half of <c>Relay__AnonymousCheckInterval</c>, a portal without the scope for an hour.
/// </summary>
/// <remarks>
/// An email (a viewer a secret-keyed source names) is read with the contacts batch read by <c>idProperty: email</c>
/// (<c>POST /crm/objects/2026-09/contacts/batch/read</c>, same scope): the email stays in the body, out of every URL that
/// logs and traces show. Where the portal opted in (<c>relay portal --create-contacts</c>, scope
/// <c>crm.objects.contacts.write</c>) an unknown email is created (<c>POST /crm/objects/2026-09/contacts</c>, <c>associations</c> empty); a 409, another
/// instance having created it first, is read again. One look-up at a time per email in this instance, cached like a utk;
/// the cache keys hold the email's hash, never the email.
/// </remarks>
public sealed class ContactResolver(
    HubSpotClient hubSpot,
    PortalSettings portals,
    Storage.QuotaStore quotas,
    IOptions<HubSpotOptions> hubSpotOptions,
    IOptions<RelayOptions> relayOptions,
    TimeProvider time,
    ILogger<ContactResolver> logger)
{
    public const string Scope = "crm.objects.contacts.read";

    public const string WriteScope = "crm.objects.contacts.write";

    public const string BatchReadPath = $"/crm/objects/{HubSpotApiVersions.CrmObjects}/contacts/batch/read";

    public const string CreatePath = $"/crm/objects/{HubSpotApiVersions.CrmObjects}/contacts";

    private readonly ExpiringCache<(long PortalId, string EmailHash), EmailResolution> _emails = new(200_000, time);

    /// <summary>Portals warned this hour that they reached their bound of contacts created.</summary>
    private readonly ExpiringCache<long, bool> _warnedContactsBound = new(10_000, time);

    /// <summary>
    /// Look-ups of one email in one portal wait for each other, so that concurrent sessions of a new viewer create one
    /// contact; those of other emails, or of the same email in another portal, never wait for them (a look-up holds its
    /// turn through the portal's pacing).
    /// </summary>
    private readonly KeyedLocks<(long PortalId, string EmailHash)> _emailLocks = new();

    private static readonly TimeSpan ContactCachedFor = TimeSpan.FromDays(1);
    private static readonly TimeSpan UncheckedCachedFor = TimeSpan.FromHours(1);

    private static readonly string[] EmailProperty = ["email"];
    private readonly ExpiringCache<(long PortalId, string Utk), UtkResolution> _cache = new(200_000, time);

    /// <summary>Portals that answered 403 (no contacts scope), not asked again for an hour: one warning an hour, not one per utk.</summary>
    private readonly ExpiringCache<long, bool> _withoutScope = new(10_000, time);

    /// <summary>Half a check interval: a held session's next check (which may come a little early) asks HubSpot again.</summary>
    private TimeSpan NotContactCachedFor => relayOptions.Value.AnonymousCheckInterval / 2;

    public static string PathOf(string utk) => $"/contacts/{HubSpotApiVersions.ContactsByUtk}/contact/utk/{Uri.EscapeDataString(utk)}/profile";

    /// <param name="priority">The look-up's rank in the portal's budget: <see cref="CallPriority.SuspectLookUp"/> for a session of a client address that brought too many viewers who are no contact.</param>
    public async Task<UtkResolution> ResolveAsync(long portalId, string utk, CancellationToken cancellationToken, DateTimeOffset? answerBy = null, CallPriority priority = CallPriority.LookUp)
    {
        if (hubSpotOptions.Value.DryRun)
            return new(UtkState.Unchecked);
        if (_withoutScope.TryGet(portalId, out _))
            return new(UtkState.Unchecked);
        if (_cache.TryGet((portalId, utk), out var cached))
            return cached;

        var answer = await hubSpot.SendAsync(portalId, HttpMethod.Get, PathOf(utk), null, cancellationToken, answerBy, priority);
        var (resolution, keepFor) = answer.Result switch
        {
            { Outcome: DeliveryOutcome.Delivered } => ContactOfProfile(answer.Body) is { IsContact: true } profile
                ? (new UtkResolution(UtkState.Contact, ContactId: profile.ContactId), ContactCachedFor)
                : (new UtkResolution(UtkState.NotContact), NotContactCachedFor),
            { Outcome: DeliveryOutcome.Rejected, Status: 404 } => (new UtkResolution(UtkState.NotContact), NotContactCachedFor),
            { Outcome: DeliveryOutcome.Rejected } rejected => (Unchecked(portalId, rejected), UncheckedCachedFor),
            var unanswered => (new UtkResolution(UtkState.AskLater, Unanswered: unanswered), TimeSpan.Zero),
        };
        if (keepFor > TimeSpan.Zero)
            _cache.Set((portalId, utk), resolution, keepFor);
        return resolution;
    }

    public async Task<EmailResolution> ResolveEmailAsync(long portalId, string email, CancellationToken cancellationToken, DateTimeOffset? answerBy = null, CallPriority priority = CallPriority.LookUp)
    {
        if (hubSpotOptions.Value.DryRun || _withoutScope.TryGet(portalId, out _))
            return new(UtkState.Unchecked);
        var hash = HashOf(email);
        if (_emails.TryGet((portalId, hash), out var cached))
            return cached;

        using (await _emailLocks.LockAsync((portalId, hash), cancellationToken))
        {
            if (_emails.TryGet((portalId, hash), out cached))
                return cached;
            var resolution = await FindByEmailAsync(portalId, email, answerBy, priority, cancellationToken);
            if (resolution.State == UtkState.NotContact && await CreatesContactsAsync(portalId, cancellationToken))
                resolution = await CreateContactAsync(portalId, email, answerBy, priority, cancellationToken);
            var keepFor = resolution.State switch
            {
                UtkState.Contact => ContactCachedFor,
                UtkState.NotContact => NotContactCachedFor,
                UtkState.Unchecked => UncheckedCachedFor,
                _ => TimeSpan.Zero,
            };
            if (keepFor > TimeSpan.Zero)
                _emails.Set((portalId, hash), resolution, keepFor);
            return resolution;
        }
    }

    /// <summary>The hex SHA-256 of a lower-cased email: what the relay keys an email by.</summary>
    public static string HashOf(string email) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(email.ToLowerInvariant())));

    private async Task<EmailResolution> FindByEmailAsync(long portalId, string email, DateTimeOffset? answerBy, CallPriority priority, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.Serialize(new { idProperty = "email", properties = EmailProperty, inputs = new[] { new { id = email } } });
        var answer = await hubSpot.SendAsync(portalId, HttpMethod.Post, BatchReadPath, body, cancellationToken, answerBy, priority);
        return answer.Result switch
        {
            { Outcome: DeliveryOutcome.Delivered } => ContactIdIn(answer.Body, "results") is { } id ? new(UtkState.Contact, id) : new(UtkState.NotContact),
            { Outcome: DeliveryOutcome.Rejected, Status: 404 } => new(UtkState.NotContact),
            { Outcome: DeliveryOutcome.Rejected } rejected => new(Unchecked(portalId, rejected, "an email").State),
            var unanswered => new(UtkState.AskLater, Unanswered: unanswered),
        };
    }

    /// <summary>
    /// Creates the contact, within the portal's daily bound (<c>Relay__MaxContactsCreatedPerPortalPerDay</c>, for every
    /// instance together): past it the email waits as any viewer who is no contact, with a warning once an hour.
    /// </summary>
    private async Task<EmailResolution> CreateContactAsync(long portalId, string email, DateTimeOffset? answerBy, CallPriority priority, CancellationToken cancellationToken)
    {
        var limit = relayOptions.Value.MaxContactsCreatedPerPortalPerDay;
        switch (await quotas.TakeContactMadeAsync(portalId, limit, cancellationToken))
        {
            case Storage.QuotaTake.Contended:
                return new(UtkState.AskLater, Unanswered: DeliveryResult.Later(TimeSpan.FromSeconds(2), "the portal's count of contacts made today was too busy to settle"));
            case Storage.QuotaTake.Full:
                if (!_warnedContactsBound.TryGet(portalId, out _))
                {
                    _warnedContactsBound.Set(portalId, true, TimeSpan.FromHours(1));
                    logger.LogWarning(
                        "Portal {PortalId} has had {Limit} contacts created today for emails HubSpot did not know (Relay__MaxContactsCreatedPerPortalPerDay): such viewers wait as viewers who are no contact",
                        portalId,
                        limit);
                }

                return new(UtkState.NotContact);
        }

        var body = JsonSerializer.Serialize(new { properties = new { email }, associations = Array.Empty<object>() });
        var answer = await hubSpot.SendAsync(portalId, HttpMethod.Post, CreatePath, body, cancellationToken, answerBy, priority);
        switch (answer.Result)
        {
            case { Outcome: DeliveryOutcome.Delivered } when ContactIdIn(answer.Body, null) is { } id:
                logger.LogInformation("Portal {PortalId}: a viewer's email was no HubSpot contact; contact {ContactId} was created for it (relay portal --create-contacts)", portalId, id);
                return new(UtkState.Contact, id);
            case { Outcome: DeliveryOutcome.Rejected, Status: 409 }:
                // Made meanwhile by another instance (or a person): HubSpot keeps one contact per email.
                return await FindByEmailAsync(portalId, email, answerBy, priority, cancellationToken);
            case { Outcome: DeliveryOutcome.Rejected } rejected:
                logger.LogWarning(
                    "Portal {PortalId}: HubSpot answered {Status} to the relay's creation of a contact for a viewer's email{Hint}; the session waits as for any viewer who is no contact",
                    portalId,
                    rejected.Status,
                    rejected.Status == 403 ? $" (the portal has not granted the app's optional scope {WriteScope}: install the app again to grant it)" : "");
                return new(UtkState.NotContact);
            case var unanswered:
                return new(UtkState.AskLater, Unanswered: unanswered);
        }
    }

    private async Task<bool> CreatesContactsAsync(long portalId, CancellationToken cancellationToken) =>
        (await portals.GetAsync(portalId, cancellationToken))?.CreatesContacts == true;

    /// <summary>The contact id in a CRM answer: the first of <paramref name="list"/>'s objects, or the answer itself when null.</summary>
    private static long? ContactIdIn(string? body, string? list)
    {
        try
        {
            using var answer = JsonDocument.Parse(body ?? "{}");
            var root = answer.RootElement;
            if (list is not null)
                root = root.ValueKind == JsonValueKind.Object && root.TryGetProperty(list, out var items) && items.ValueKind == JsonValueKind.Array && items.GetArrayLength() > 0 ? items[0] : default;
            return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("id", out var id)
                && long.TryParse(id.ValueKind == JsonValueKind.String ? id.GetString() : id.GetRawText(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed)
                ? parsed
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether the profile is a contact's (<c>"is-contact": true</c>) rather than a known visitor's, and its id
    /// (<c>canonical-vid</c>, else <c>vid</c>). The events go on with the utk, which HubSpot converts into the contact's id
    /// itself; the id is what a privacy deletion will name the viewer by.
    /// </summary>
    private static (bool IsContact, long? ContactId) ContactOfProfile(string? body)
    {
        try
        {
            using var profile = JsonDocument.Parse(body ?? "{}");
            var root = profile.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("is-contact", out var isContact) || isContact.ValueKind != JsonValueKind.True)
                return (false, null);
            long? id = root.TryGetProperty("canonical-vid", out var canonical) && canonical.TryGetInt64(out var canonicalId) ? canonicalId
                : root.TryGetProperty("vid", out var vid) && vid.TryGetInt64(out var vidId) ? vidId
                : null;
            return (true, id);
        }
        catch (JsonException)
        {
            return (false, null);
        }
    }

    /// <summary>Forgets what this instance has cached of a viewer (a privacy deletion): its utk's and its email's answers.</summary>
    public void Forget(long portalId, string? utk, string? email)
    {
        if (utk is not null)
            _cache.Remove((portalId, utk));
        if (email is not null)
            _emails.Remove((portalId, HashOf(email)));
    }

    private UtkResolution Unchecked(long portalId, DeliveryResult rejected, string what = "a utk")
    {
        if (rejected.Status == 403)
            _withoutScope.Set(portalId, true, UncheckedCachedFor);
        logger.LogWarning(
            "Portal {PortalId}: HubSpot answered {Status} to the relay's look-up of {What}{Hint}; for an hour, sessions known only by a utk are sent unchecked and those known by an email wait",
            portalId,
            rejected.Status,
            what,
            rejected.Status == 403 ? $" (the portal has not granted the app's optional scope {Scope}: install the app again to grant it)" : "");
        return new(UtkState.Unchecked);
    }
}
