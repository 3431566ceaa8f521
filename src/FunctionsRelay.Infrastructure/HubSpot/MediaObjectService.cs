using System.Globalization;
using System.Text.Json;
using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>What making sure of a media object did to it in HubSpot.</summary>
public enum MediaChange
{
    None,
    Made,
    Updated,
}

/// <summary>A media object found or made (its HubSpot id), or what to do with the event instead.</summary>
public sealed record MediaResolution(long? ObjectId, DeliveryResult Result, MediaChange Change = MediaChange.None)
{
    public static MediaResolution Found(long objectId, MediaChange change = MediaChange.None) => new(objectId, DeliveryResult.Delivered, change);
}

/// <summary>
/// Makes sure the media object a session's events attach to exists in the portal, once per media: found in the relay's
/// own table (and cache), else, under a claim so that concurrent sessions of a new media make one object, found among the
/// portal's objects by its external id or made. A claim whose holder stopped runs out and is taken over.
/// <para>
/// Beacons come from pages, and a page's publishable key is public: what they say of a media may make its object (at
/// most <c>Relay__NewMediaPerPortalPerDay</c> a day and <c>Relay__NewMediaPerPortalPerHour</c> an hour per portal, the
/// bounds read before the portal's listing is asked for, so that a media past them costs HubSpot nothing) but never
/// changes one that exists, and in a portal that chose its catalog alone (<c>relay portal --media-from-catalog-only</c>)
/// makes none. Titles, durations and links change from the integrator's catalog only (<see cref="FromCatalogAsync"/>,
/// <c>relay media</c>).
/// </para>
/// </summary>
public sealed class MediaObjectService(
    HubSpotClient hubSpot,
    MediaObjectStore store,
    QuotaStore quotas,
    PortalSettings portals,
    RelayMetrics metrics,
    IOptions<RelayOptions> options,
    TimeProvider time,
    ILogger<MediaObjectService> logger)
{
    /// <summary>How long making one object may take before another worker may take over.</summary>
    private static readonly TimeSpan ClaimTime = TimeSpan.FromSeconds(30);

    /// <summary>How soon a session whose media someone else is making looks again.</summary>
    private static readonly TimeSpan ClaimedElsewhereRetry = TimeSpan.FromSeconds(1);

    /// <summary>At most this many pages (of 100) of a portal's listing are read for one media; the next look reads on.</summary>
    private const int MaxPagesPerLook = 50;

    /// <summary>Media objects known to exist, a day at a time: a miss costs one read of the media objects table.</summary>
    private static readonly TimeSpan KnownFor = TimeSpan.FromDays(1);
    private readonly ExpiringCache<(long PortalId, string MediaType, string ExternalId), (long ObjectId, string Fingerprint)> _known = new(100_000, time);

    /// <summary>The object a session's events attach to, as its beacons describe it: found, or made (bounded), never changed.</summary>
    public Task<MediaResolution> ResolveAsync(long portalId, MediaObjectSpec media, CancellationToken cancellationToken, DateTimeOffset? answerBy = null) =>
        ResolveAsync(portalId, media, fromCatalog: false, answerBy, cancellationToken);

    /// <summary>
    /// The object as the integrator's catalog describes it: found and updated where its fields differ, or made. The one
    /// way a media object's title, duration or links change.
    /// </summary>
    public Task<MediaResolution> FromCatalogAsync(long portalId, MediaObjectSpec media, CancellationToken cancellationToken) =>
        ResolveAsync(portalId, media, fromCatalog: true, answerBy: null, cancellationToken);

    private async Task<MediaResolution> ResolveAsync(long portalId, MediaObjectSpec media, bool fromCatalog, DateTimeOffset? answerBy, CancellationToken cancellationToken)
    {
        var key = (portalId, media.MediaType, media.ExternalId);
        var fingerprint = media.Fingerprint();
        if (_known.TryGet(key, out var known) && (!fromCatalog || known.Fingerprint == fingerprint))
            return MediaResolution.Found(known.ObjectId);

        var row = await store.GetAsync(portalId, media, cancellationToken);
        if (row is { ObjectId: { } objectId })
        {
            var updated = MediaChange.None;
            if (fromCatalog && row.Fingerprint != fingerprint)
                (fingerprint, updated) = await UpdateAsync(portalId, media, objectId, fingerprint, row.Fingerprint, answerBy, cancellationToken);
            else
                fingerprint = row.Fingerprint ?? fingerprint;
            _known.Set(key, (objectId, fingerprint), KnownFor);
            return MediaResolution.Found(objectId, updated);
        }

        var now = time.GetUtcNow();
        if (row is not null && row.ClaimedUntil > now)
            return new(null, DeliveryResult.Later(ClaimedElsewhereRetry, "its media object is being made by another worker"));
        var claim = row is null
            ? await store.TryClaimNewAsync(portalId, media, now + ClaimTime, cancellationToken)
            : await store.TryTakeOverAsync(portalId, media, row, now + ClaimTime, cancellationToken);
        if (claim is not { } held)
            return new(null, DeliveryResult.Later(ClaimedElsewhereRetry, "its media object is being made by another worker"));

        // A beacon's media past what the portal lets beacons make waits, before anything is asked of HubSpot.
        if (!fromCatalog && await RefusedForBeaconsAsync(portalId, media, cancellationToken) is { } refused)
        {
            await store.ReleaseAsync(portalId, media, held, cancellationToken);
            return new(null, refused);
        }

        // The portal may hold the object already: made by the provider's own integration, or by a worker that stopped
        // before recording it.
        var (made, searchFailed) = await FindAsync(portalId, media, answerBy, cancellationToken);
        if (searchFailed is not null)
        {
            await store.ReleaseAsync(portalId, media, held, cancellationToken);
            return new(null, searchFailed with { Answer = $"looking for the media object failed: {searchFailed.Answer}" });
        }

        var madeNow = made is null;
        if (made is null)
        {
            var take = fromCatalog ? QuotaTake.Taken : await quotas.TakeMediaMadeAsync(portalId, options.Value.NewMediaPerPortalPerDay, options.Value.NewMediaPerPortalPerHour, cancellationToken);
            if (take != QuotaTake.Taken)
            {
                await store.ReleaseAsync(portalId, media, held, cancellationToken);
                return new(null, take == QuotaTake.Contended
                    ? DeliveryResult.Later(ClaimedElsewhereRetry, "the portal's count of media objects made was too busy to settle")
                    : BoundReached(portalId));
            }

            var answer = await hubSpot.SendAsync(portalId, HttpMethod.Post, MediaObjectRoutes.Objects, media.ToJson(), cancellationToken, answerBy);
            if (!answer.Succeeded || IdOf(answer.Body) is not { } createdId)
            {
                await store.ReleaseAsync(portalId, media, held, cancellationToken);
                return new(null, answer.Succeeded
                    ? DeliveryResult.Later(TimeSpan.FromSeconds(30), "HubSpot made the media object but answered no id")
                    : answer.Result with { Answer = $"making the media object failed: {answer.Result.Answer}" });
            }

            made = createdId;
            metrics.MediaObjectMade(portalId);
            logger.LogInformation(
                "Made {MediaType} media object {ObjectId} for {ExternalId} in portal {PortalId}", media.MediaType, createdId, media.ExternalId, portalId);
        }

        var change = madeNow ? MediaChange.Made : MediaChange.None;
        // Found in HubSpot, not made here: the catalog's fields go to it now; a beacon's never do.
        if (!madeNow && fromCatalog)
            (fingerprint, change) = await UpdateAsync(portalId, media, made.Value, fingerprint, previous: null, answerBy, cancellationToken);
        await store.SaveAsync(portalId, media, made.Value, fingerprint, cancellationToken);
        _known.Set(key, (made.Value, fingerprint), KnownFor);
        return MediaResolution.Found(made.Value, change);
    }

    /// <summary>
    /// Why beacons may not make this media's object now, as a wait for it (looked at again hourly, a table read, so that
    /// an object <c>relay media</c> makes meanwhile is used at once); null when they may.
    /// </summary>
    private async Task<DeliveryResult?> RefusedForBeaconsAsync(long portalId, MediaObjectSpec media, CancellationToken cancellationToken)
    {
        if ((await portals.GetAsync(portalId, cancellationToken))?.MediaFromCatalogOnly == true)
            return DeliveryResult.AwaitingMediaFor(LookAgainAfter, $"the portal makes media objects from its catalog only (relay media), and {media.MediaType} {media.ExternalId} is not in it");
        var (today, thisHour) = await quotas.MediaMadeAsync(portalId, cancellationToken);
        return today >= options.Value.NewMediaPerPortalPerDay || thisHour >= options.Value.NewMediaPerPortalPerHour ? BoundReached(portalId) : null;
    }

    private static readonly TimeSpan LookAgainAfter = TimeSpan.FromHours(1);

    /// <summary>Portals warned this hour that they reached their bounds of new media: a line an hour, not one per session.</summary>
    private readonly ExpiringCache<long, bool> _warnedBound = new(10_000, time);

    private DeliveryResult BoundReached(long portalId)
    {
        var settings = options.Value;
        if (!_warnedBound.TryGet(portalId, out _))
        {
            _warnedBound.Set(portalId, true, LookAgainAfter);
            logger.LogWarning(
                "Portal {PortalId} has had as many media objects made from beacons as it may (Relay__NewMediaPerPortalPerHour {PerHour}, Relay__NewMediaPerPortalPerDay {PerDay}): sessions of new media wait for the next hour, or for relay media to make theirs, up to Relay__MediaObjectWaitLimit ({WaitLimit})",
                portalId,
                settings.NewMediaPerPortalPerHour,
                settings.NewMediaPerPortalPerDay,
                settings.MediaObjectWaitLimit);
        }

        return DeliveryResult.AwaitingMediaFor(LookAgainAfter, "the portal's bound of media objects made from beacons is reached");
    }

    /// <summary>Sends the catalog's fields; the fingerprint now stored (the old one if HubSpot refused, so it is tried again later).</summary>
    private async Task<(string Fingerprint, MediaChange Change)> UpdateAsync(
        long portalId, MediaObjectSpec media, long objectId, string fingerprint, string? previous, DateTimeOffset? answerBy, CancellationToken cancellationToken)
    {
        var answer = await hubSpot.SendAsync(
            portalId, HttpMethod.Patch, $"{MediaObjectRoutes.Objects}/{objectId.ToString(CultureInfo.InvariantCulture)}", media.ToJson(), cancellationToken, answerBy);
        if (!answer.Succeeded)
        {
            logger.LogWarning(
                "Updating media object {ObjectId} of portal {PortalId} failed ({Outcome} {Status}); its events still go to it",
                objectId, portalId, answer.Result.Outcome, answer.Result.Status);
            return (previous ?? "", MediaChange.None);
        }

        await store.SaveAsync(portalId, media, objectId, fingerprint, cancellationToken);
        return (fingerprint, MediaChange.Updated);
    }

    /// <summary>
    /// The portal's object with this provider id, if it has one; or why HubSpot could not be asked (then nothing is made,
    /// as it may exist). HubSpot has no look-up by external id, so the relay reads the portal's listing of the type once,
    /// keeping every object it sees (<see cref="MediaObjectStore.RecordFoundAsync"/>) and how far it read; after that,
    /// a new media costs one page: the last one read, again, which holds whatever was made since.
    /// </summary>
    private async Task<(long? Id, DeliveryResult? Failed)> FindAsync(long portalId, MediaObjectSpec media, DateTimeOffset? answerBy, CancellationToken cancellationToken)
    {
        var listing = await store.GetListingAsync(portalId, media.MediaType, cancellationToken);
        if (listing is not null && listing.ClaimedUntil > time.GetUtcNow())
            return (null, ListedElsewhere);
        var claimed = await store.TrySaveListingAsync(
            portalId, media.MediaType, listing, listing?.After, listing?.Complete ?? false, time.GetUtcNow() + ClaimTime, cancellationToken);
        if (claimed is null)
            return (null, ListedElsewhere);

        long? foundId = null;
        DeliveryResult? failed = null;
        var after = claimed.After;
        var complete = claimed.Complete;
        try
        {
            for (var page = 0; page < MaxPagesPerLook && foundId is null && failed is null; page++)
            {
                var path = $"{MediaObjectRoutes.Objects}/{media.MediaType}?limit=100" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after));
                var answer = await hubSpot.SendAsync(portalId, HttpMethod.Get, path, null, cancellationToken, answerBy, CallPriority.LookUp);
                if (!answer.Succeeded || answer.Body is null)
                {
                    failed = answer.Result;
                    break;
                }

                var (objects, next) = ReadPage(answer.Body);
                await store.RecordFoundAsync(portalId, media.MediaType, objects, cancellationToken);
                foreach (var (externalId, id) in objects)
                    _known.Set((portalId, media.MediaType, externalId), (id, ""), KnownFor);
                foundId = objects.FirstOrDefault(o => o.ExternalId == media.ExternalId) is { ObjectId: > 0 } match ? match.ObjectId : null;
                if (next is null)
                {
                    complete = true;
                    break;
                }

                after = next;
                // Progress is kept page by page, so that a worker that stops costs the next one no page already read.
                claimed = await store.TrySaveListingAsync(portalId, media.MediaType, claimed, after, complete, time.GetUtcNow() + ClaimTime, cancellationToken);
                if (claimed is null)
                    return (foundId, foundId is null ? ListedElsewhere : null);
            }
        }
        catch (Exception) when (claimed is not null)
        {
            // A worker stopped mid-listing gives the claim back, its progress kept, so that the portal's next new media
            // need not wait for the claim to run out.
            using var giveBack = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await store.TrySaveListingAsync(portalId, media.MediaType, claimed, after, complete, DateTimeOffset.MinValue, giveBack.Token);
            }
            catch (Exception ex) when (ex is Azure.RequestFailedException or OperationCanceledException)
            {
                // Storage is what failed, or is slow: the claim runs out by itself.
            }

            throw;
        }

        await store.TrySaveListingAsync(portalId, media.MediaType, claimed, after, complete, DateTimeOffset.MinValue, cancellationToken);
        if (failed is not null || foundId is not null)
            return (foundId, failed);
        if (!complete)
        {
            logger.LogInformation(
                "Read {Pages} pages of portal {PortalId}'s {MediaType} objects without finding {ExternalId}; reading on", MaxPagesPerLook, portalId, media.MediaType, media.ExternalId);
            return (null, DeliveryResult.Later(ClaimedElsewhereRetry, "the portal's media objects are still being read"));
        }

        return (null, null);
    }

    private static readonly DeliveryResult ListedElsewhere = DeliveryResult.Later(ClaimedElsewhereRetry, "the portal's media objects are being read by another worker");

    /// <summary>A page of the listing: each object's external id (those that have one) and id, and the next page's cursor.</summary>
    private static (List<(string ExternalId, long ObjectId)> Objects, string? Next) ReadPage(string body)
    {
        using var json = JsonDocument.Parse(body);
        var objects = new List<(string, long)>();
        foreach (var result in json.RootElement.GetProperty("results").EnumerateArray())
        {
            if (result.TryGetProperty("externalId", out var externalId) && externalId.ValueKind == JsonValueKind.String && IdOf(result) is { } id)
                objects.Add((externalId.GetString()!, id));
        }

        var next = json.RootElement.TryGetProperty("paging", out var paging) && paging.ValueKind == JsonValueKind.Object
            && paging.TryGetProperty("next", out var nextPage) && nextPage.TryGetProperty("after", out var cursor)
            ? cursor.GetString()
            : null;
        return (objects, next);
    }

    private static long? IdOf(string? body)
    {
        if (body is null)
            return null;
        using var json = JsonDocument.Parse(body);
        return IdOf(json.RootElement);
    }

    /// <summary>HubSpot answers the id as a string of digits (the SDK's MediaBridgeObject.id); events take it as an integer.</summary>
    private static long? IdOf(JsonElement media) =>
        media.TryGetProperty("id", out var id) && long.TryParse(id.ValueKind == JsonValueKind.String ? id.GetString() : id.GetRawText(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : null;
}
