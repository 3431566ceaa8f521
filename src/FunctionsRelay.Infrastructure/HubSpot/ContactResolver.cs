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
/// outage, no usable token), to be handled as a send that met it would be.
/// </summary>
public sealed record UtkResolution(UtkState State, DeliveryResult? Unanswered = null);

/// <summary>
/// Whether a <c>hubspotutk</c> is a HubSpot contact, by HubSpot's "get a contact by its user token" endpoint
/// (<c>GET /contacts/v1/contact/utk/{utk}/profile</c>, scope <c>crm.objects.contacts.read</c>, which the app asks for as
/// an optional scope). Answers are cached per portal and utk: a contact for a day (a contact stays one), not a contact
/// for half of <c>Relay__AnonymousCheckInterval</c>, a portal without the scope for an hour.
/// </summary>
public sealed class ContactResolver(
    HubSpotClient hubSpot,
    IOptions<HubSpotOptions> hubSpotOptions,
    IOptions<RelayOptions> relayOptions,
    TimeProvider time,
    ILogger<ContactResolver> logger)
{
    public const string Scope = "crm.objects.contacts.read";

    private static readonly TimeSpan ContactCachedFor = TimeSpan.FromDays(1);
    private static readonly TimeSpan UncheckedCachedFor = TimeSpan.FromHours(1);
    private readonly ExpiringCache<(long PortalId, string Utk), UtkResolution> _cache = new(200_000, time);

    /// <summary>Portals that answered 403 (no contacts scope), not asked again for an hour: one warning an hour, not one per utk.</summary>
    private readonly ExpiringCache<long, bool> _withoutScope = new(10_000, time);

    /// <summary>Half a check interval: a held session's next check (which may come a little early) asks HubSpot again.</summary>
    private TimeSpan NotContactCachedFor => relayOptions.Value.AnonymousCheckInterval / 2;

    public static string PathOf(string utk) => $"/contacts/v1/contact/utk/{Uri.EscapeDataString(utk)}/profile";

    public async Task<UtkResolution> ResolveAsync(long portalId, string utk, CancellationToken cancellationToken, DateTimeOffset? answerBy = null)
    {
        if (hubSpotOptions.Value.DryRun)
            return new(UtkState.Unchecked);
        if (_withoutScope.TryGet(portalId, out _))
            return new(UtkState.Unchecked);
        if (_cache.TryGet((portalId, utk), out var cached))
            return cached;

        var answer = await hubSpot.SendAsync(portalId, HttpMethod.Get, PathOf(utk), null, cancellationToken, answerBy, CallPriority.LookUp);
        var (resolution, keepFor) = answer.Result switch
        {
            { Outcome: DeliveryOutcome.Delivered } => IsContact(answer.Body)
                ? (new UtkResolution(UtkState.Contact), ContactCachedFor)
                : (new UtkResolution(UtkState.NotContact), NotContactCachedFor),
            { Outcome: DeliveryOutcome.Rejected, Status: 404 } => (new UtkResolution(UtkState.NotContact), NotContactCachedFor),
            { Outcome: DeliveryOutcome.Rejected } rejected => (Unchecked(portalId, rejected), UncheckedCachedFor),
            var unanswered => (new UtkResolution(UtkState.AskLater, Unanswered: unanswered), TimeSpan.Zero),
        };
        if (keepFor > TimeSpan.Zero)
            _cache.Set((portalId, utk), resolution, keepFor);
        return resolution;
    }

    /// <summary>
    /// Whether the profile is a contact's (<c>"is-contact": true</c>) rather than a known visitor's. The events go on with
    /// the utk, which HubSpot converts into the contact's id itself.
    /// </summary>
    private static bool IsContact(string? body)
    {
        try
        {
            using var profile = JsonDocument.Parse(body ?? "{}");
            return profile.RootElement.ValueKind == JsonValueKind.Object
                && profile.RootElement.TryGetProperty("is-contact", out var isContact)
                && isContact.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private UtkResolution Unchecked(long portalId, DeliveryResult rejected)
    {
        if (rejected.Status == 403)
            _withoutScope.Set(portalId, true, UncheckedCachedFor);
        logger.LogWarning(
            "Portal {PortalId}: HubSpot answered {Status} to the relay's look-up of a utk{Hint}; sessions known only by {Which} are sent without the check for an hour",
            portalId,
            rejected.Status,
            rejected.Status == 403 ? $" (the portal has not granted the app's optional scope {Scope}: install the app again to grant it)" : "",
            rejected.Status == 403 ? "a utk" : "this utk");
        return new(UtkState.Unchecked);
    }
}
