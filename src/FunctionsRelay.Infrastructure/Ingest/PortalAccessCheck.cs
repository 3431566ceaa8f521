using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Ingest;

/// <summary>
/// What a beacon request shows of who sent it: the portal's publishable key and the page's origin (a player), or one of
/// its secret source keys (a backend: <see cref="SecretKey"/>, from the <c>Authorization</c> header).
/// </summary>
/// <remarks><see cref="Address"/>: the client's address as the rate limits key it; never stored as it is (<see cref="Protection.Pseudonyms"/>).</remarks>
public sealed record BeaconCredentials(string? Key, string? Origin, string? OwnOrigin = null, string? SecretKey = null, string? Address = null)
{
    public static readonly BeaconCredentials None = new(null, null);

    /// <summary>The text form leaves the secret key out.</summary>
    public override string ToString() => $"BeaconCredentials {{ Key = {Key}, Origin = {Origin}, SecretKey = {(SecretKey is null ? "" : "(set)")} }}";
}

/// <summary>
/// Why a request was refused before anything of it was queued: the status, the error the player reads, the reason counted,
/// and the portal it was refused for when that portal installed the app.
/// </summary>
public sealed record AccessRefusal(int Status, string Error, string Reason, long? InstalledPortalId = null);

/// <summary>
/// Only a portal's own players write to its timeline: every portal a request names must have installed the app (else
/// 403: a made-up portal would wait days for a token that never comes), the request must show that portal's
/// publishable key (else 401), a page's <c>Origin</c> must be one the portal allows (else 403), and a contact id must
/// come with the portal's signature of it (else 400). Portals are cached
/// for a minute, those unknown too, so that a flood of made-up portals costs no storage reads. With no HubSpot app
/// configured (a dry run) nothing reaches HubSpot and nothing is checked.
/// </summary>
public sealed class PortalAccessCheck(PortalTokenStore store, IOptions<RelayOptions> relay, IOptions<HubSpotOptions> hubSpot, TimeProvider time)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromMinutes(1);

    /// <summary>A key or signature the cached row refuses is checked against the row read again, at most this often: rotations work at once.</summary>
    private static readonly TimeSpan RereadAfter = TimeSpan.FromSeconds(5);
    /// <summary>Portals named in requests, unknown ones too: bounded, as a flood can name any number of made-up ids.</summary>
    private readonly ExpiringCache<long, (PortalAccess? Access, DateTimeOffset ReadAt)> _portals = new(100_000, time);

    public async Task<AccessRefusal?> CheckAsync(
        IReadOnlyList<Beacon> beacons, IReadOnlyList<PlaybackSummary> summaries, BeaconCredentials credentials, CancellationToken cancellationToken)
    {
        if (hubSpot.Value.DryRun)
            return null;
        var portals = beacons.Select(b => b.PortalId).Concat(summaries.Select(s => s.PortalId)).Distinct();
        if (credentials.SecretKey is { } secretKey)
        {
            // A secret key is its backend's: it vouches for the contacts the beacons name, of its own portal only.
            var (keyPortal, refusal) = await SourcePortalAsync(secretKey, cancellationToken);
            return refusal ?? portals.Where(portalId => portalId != keyPortal).Select(portalId => new AccessRefusal(
                403, $"portalId: {portalId} is not the portal of the secret source key (portal {keyPortal}'s)", "foreign_portal", keyPortal)).FirstOrDefault();
        }

        foreach (var portalId in portals)
        {
            if (await AccessOfAsync(portalId, cancellationToken) is not { } access)
                return new(403, $"portalId: {portalId} has not installed this relay's HubSpot app; install it first (/api/oauth/install)", "unknown_portal");
            if (credentials.Key is null)
                return new(401, "key: is required: the portal's publishable key, as the X-Relay-Key header or ?key= (shown when the app was installed, and by relay portal)", "missing_key", portalId);
            if (!access.Accepts(credentials.Key, time.GetUtcNow())
                && (await AccessOfAsync(portalId, cancellationToken, fresherThan: RereadAfter) is not { } reread || !reread.Accepts(credentials.Key, time.GetUtcNow())))
                return new(401, $"key: is not a publishable key of portal {portalId} (rotated more than the grace period ago, or another portal's)", "wrong_key", portalId);
            if (credentials.Origin is { Length: > 0 } origin && !OriginAllowed(access, origin, credentials.OwnOrigin))
                return new(403, $"Origin: {origin} may not post beacons of portal {portalId}; allow it with relay portal --origins", "foreign_origin", portalId);
            if (beacons.FirstOrDefault(b => b.PortalId == portalId && b.Contact?.Email is not null) is { } byEmail)
                return new(400, $"contact.email: the {byEmail.Event.ToString().ToLowerInvariant()} beacon of session {byEmail.SessionId} names its viewer by email, which only a request with a secret source key may do (Authorization: Bearer sk_..., from a backend: docs/security.md); a page sends the hubspotutk cookie as contact.utk", "email_without_secret", portalId);
            foreach (var beacon in beacons.Where(b => b.PortalId == portalId && b.Contact?.ContactId is not null))
            {
                // A signature the cached row does not vouch for may be by a secret rotated since: checked against the row read again.
                if (UnvouchedContact(access, beacon) is { } problem
                    && (await AccessOfAsync(portalId, cancellationToken, fresherThan: RereadAfter) is not { } fresh || UnvouchedContact(fresh, beacon) is not null))
                    return new(400, problem, "unsigned_contact", portalId);
            }
        }

        return null;
    }

    /// <summary>
    /// The portal a secret source key belongs to, or why it is refused: 401 for text that is not one of a portal's keys
    /// that still count (read again when the cached row refuses it, at most every 5 s: a new key works within seconds), 403 for a
    /// portal that never installed the app. In a dry run the key's portal is taken unchecked.
    /// </summary>
    public async Task<(long PortalId, AccessRefusal? Refusal)> SourcePortalAsync(string? secretKey, CancellationToken cancellationToken)
    {
        if (SecretSourceKeys.Parse(secretKey) is not { } named)
        {
            return (0, new(401, string.IsNullOrEmpty(secretKey)
                ? "Authorization: is required: Bearer and one of the portal's secret source keys (made with relay portal --portal <portalId> --new-secret-key)"
                : "Authorization: is not a secret source key (Bearer sk_<portalId>_...)", string.IsNullOrEmpty(secretKey) ? "missing_key" : "wrong_key"));
        }

        if (hubSpot.Value.DryRun)
            return (named.PortalId, null);
        var now = time.GetUtcNow();
        // A secret key is read afresh at most every 5 s, whether the row kept accepts it or not: a key revoked (a leak)
        // stops counting on every instance within seconds, as a new one starts to.
        if (await AccessOfAsync(named.PortalId, cancellationToken, fresherThan: RereadAfter) is not { } access)
            return (named.PortalId, new(403, $"portalId: {named.PortalId} has not installed this relay's HubSpot app; install it first (/api/oauth/install)", "unknown_portal"));
        if (!access.AcceptsSecret(secretKey!, now))
            return (named.PortalId, new(401, $"Authorization: is not a secret source key of portal {named.PortalId} that counts (revoked, rotated more than its grace period ago, or never made)", "wrong_key", named.PortalId));
        return (named.PortalId, null);
    }

    /// <summary>
    /// A contact id claims a specific contact: it counts only with the portal's signature (made by the customer's backend,
    /// which knows who is signed in), unexpired. A utk is the browser's own cookie and needs none.
    /// </summary>
    private string? UnvouchedContact(PortalAccess access, Beacon beacon)
    {
        var (contactId, signature) = (beacon.Contact!.ContactId!.Value, beacon.Contact.Signature);
        var which = $"the {beacon.Event.ToString().ToLowerInvariant()} beacon{(beacon.Seq is { } seq ? $" (seq {seq})" : "")} of session {beacon.SessionId}";
        if (signature is null)
            return $"contact.contactId: {which} names contact {contactId} without contact.expires and contact.signature (HMAC-SHA256 of \"portalId:contactId:expires\" with the portal's signing secret); send the hubspotutk cookie as contact.utk instead, or sign the id";
        if (access.SigningSecretUnreadable)
            return $"contact.signature: portal {access.PortalId}'s signing secret cannot be read by this relay's key ring, so no signature can be checked; its operator must make a new one (relay portal --portal {access.PortalId} --rotate-signing-secret)";
        if (signature.Expires <= time.GetUtcNow().ToUnixTimeSeconds())
            return $"contact.expires: the signature of contact {contactId} in {which} has expired";
        return access.Vouches(contactId, signature, time.GetUtcNow())
            ? null
            : $"contact.signature: is not portal {access.PortalId}'s signature of contact {contactId} in {which}";
    }

    /// <summary>Whether the portal's pages at <paramref name="origin"/> may post its beacons (for CORS: the key is checked with the beacons).</summary>
    public async Task<bool> AllowsOriginAsync(long portalId, string origin, CancellationToken cancellationToken) =>
        !hubSpot.Value.DryRun && await AccessOfAsync(portalId, cancellationToken) is { } access && OriginAllowed(access, origin, ownOrigin: null);

    /// <summary>Reads the portal again on its next request (after an install or a rotation made here).</summary>
    public void Forget(long portalId) => _portals.Remove(portalId);

    /// <summary>The portal's own origins when it has any, else the relay's; the relay's own pages (the demo) always.</summary>
    private bool OriginAllowed(PortalAccess access, string origin, string? ownOrigin)
    {
        var allowed = access.Origins.Count > 0 ? access.Origins : relay.Value.AllowedOrigins;
        return allowed.Contains("*") || allowed.Contains(origin, StringComparer.OrdinalIgnoreCase)
            || string.Equals(origin, ownOrigin, StringComparison.OrdinalIgnoreCase);
    }

    private async Task<PortalAccess?> AccessOfAsync(long portalId, CancellationToken cancellationToken, TimeSpan? fresherThan = null)
    {
        var now = time.GetUtcNow();
        if (_portals.TryGet(portalId, out var cached) && now - cached.ReadAt < (fresherThan ?? CacheFor))
            return cached.Access;
        var access = await store.GetAccessAsync(portalId, cancellationToken);
        _portals.Set(portalId, (access, now), CacheFor);
        return access;
    }
}
