using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using FunctionsRelay.Domain.HubSpot;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>What the relay knows of one media object: HubSpot's id once made, or who is making it until when.</summary>
public sealed record MediaObjectRow(long? ObjectId, string? Fingerprint, DateTimeOffset ClaimedUntil, ETag ETag);

/// <summary>
/// How far the relay has read a portal's objects of one media type: the cursor of the last page it read (read again
/// next time, so that objects made since, which HubSpot lists after the others, are seen), whether it has reached the
/// end once, and who is reading until when.
/// </summary>
public sealed record MediaListing(string? After, bool Complete, DateTimeOffset ClaimedUntil, ETag ETag);

/// <summary>
/// The media objects the relay made in each portal (table <c>mediaobjects</c>): partition = portal id, row = media type and
/// a hash of the provider's id (which may be longer than a row key may be, and hold characters it may not). Making one is
/// claimed first, so that concurrent sessions of a new media make exactly one. The objects the relay finds by reading
/// the portal's listing are kept here too (without a fingerprint), with one row per media type saying how far it read.
/// </summary>
public sealed class MediaObjectStore(StorageClients clients, IOptions<RelayOptions> options)
{
    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.MediaObjectsTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<MediaObjectRow?> GetAsync(long portalId, MediaObjectSpec media, CancellationToken cancellationToken)
    {
        var response = await Table.GetEntityIfExistsAsync<TableEntity>(PartitionKey(portalId), RowKey(media), cancellationToken: cancellationToken);
        return response.HasValue && response.Value is { } entity ? RowOf(entity) : null;
    }

    /// <summary>Claims the making of a media object nobody has claimed yet; false if someone has.</summary>
    public async Task<ETag?> TryClaimNewAsync(long portalId, MediaObjectSpec media, DateTimeOffset until, CancellationToken cancellationToken)
    {
        try
        {
            var response = await Table.AddEntityAsync(Entity(portalId, media, objectId: null, fingerprint: null, until), cancellationToken);
            return response.Headers.ETag;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return null;
        }
    }

    /// <summary>Takes over a claim that ran out (its holder stopped, or failed); false if someone else took it first.</summary>
    public async Task<ETag?> TryTakeOverAsync(long portalId, MediaObjectSpec media, MediaObjectRow expired, DateTimeOffset until, CancellationToken cancellationToken)
    {
        try
        {
            var response = await Table.UpdateEntityAsync(
                Entity(portalId, media, expired.ObjectId, expired.Fingerprint, until), expired.ETag, TableUpdateMode.Replace, cancellationToken);
            return response.Headers.ETag;
        }
        catch (RequestFailedException ex) when (ex.Status is 412 or 404)
        {
            return null;
        }
    }

    /// <summary>Records HubSpot's id and the fields it was made (or last updated) with; the claim ends.</summary>
    public Task SaveAsync(long portalId, MediaObjectSpec media, long objectId, string fingerprint, CancellationToken cancellationToken) =>
        Table.UpsertEntityAsync(Entity(portalId, media, objectId, fingerprint, DateTimeOffset.MinValue), TableUpdateMode.Replace, cancellationToken);

    /// <summary>Gives up a claim at once, so that the next try need not wait for it to run out.</summary>
    public async Task ReleaseAsync(long portalId, MediaObjectSpec media, ETag claim, CancellationToken cancellationToken)
    {
        try
        {
            await Table.UpdateEntityAsync(Entity(portalId, media, null, null, DateTimeOffset.MinValue), claim, TableUpdateMode.Replace, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status is 412 or 404)
        {
            // Someone took it over meanwhile: theirs now.
        }
    }

    public async Task<MediaListing?> GetListingAsync(long portalId, string mediaType, CancellationToken cancellationToken)
    {
        var response = await Table.GetEntityIfExistsAsync<TableEntity>(PartitionKey(portalId), ListingRowKey(mediaType), cancellationToken: cancellationToken);
        return response.HasValue && response.Value is { } entity
            ? new MediaListing(entity.GetString("After"), entity.GetBoolean("Complete") ?? false, entity.GetDateTimeOffset("ClaimedUntil") ?? DateTimeOffset.MinValue, entity.ETag)
            : null;
    }

    /// <summary>
    /// Saves how far the listing was read, claimed for reading on until <paramref name="claimedUntil"/> (MinValue: given
    /// up); <paramref name="current"/> null claims a listing never read. Null if another worker changed it meanwhile.
    /// </summary>
    public async Task<MediaListing?> TrySaveListingAsync(
        long portalId, string mediaType, MediaListing? current, string? after, bool complete, DateTimeOffset claimedUntil, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(PartitionKey(portalId), ListingRowKey(mediaType))
        {
            ["After"] = after,
            ["Complete"] = complete,
            ["ClaimedUntil"] = claimedUntil == DateTimeOffset.MinValue ? null : claimedUntil,
        };
        try
        {
            var response = current is null
                ? await Table.AddEntityAsync(entity, cancellationToken)
                : await Table.UpdateEntityAsync(entity, current.ETag, TableUpdateMode.Replace, cancellationToken);
            return new MediaListing(after, complete, claimedUntil, response.Headers.ETag ?? default);
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412 or 404)
        {
            return null;
        }
    }

    /// <summary>
    /// Records objects found in the portal's listing (one page: one transaction), merged into what is kept of each: a
    /// fingerprint or a claim stays as it is.
    /// </summary>
    public async Task RecordFoundAsync(long portalId, string mediaType, IReadOnlyCollection<(string ExternalId, long ObjectId)> found, CancellationToken cancellationToken)
    {
        // A transaction takes each row once, and at most 100.
        var actions = found.DistinctBy(f => f.ExternalId).Select(f => new TableTransactionAction(
                TableTransactionActionType.UpsertMerge,
                new TableEntity(PartitionKey(portalId), RowKey(mediaType, f.ExternalId))
                {
                    ["MediaType"] = mediaType,
                    ["ExternalId"] = f.ExternalId,
                    ["ObjectId"] = f.ObjectId,
                }))
            .ToList();
        foreach (var chunk in actions.Chunk(100))
            await Table.SubmitTransactionAsync(chunk, cancellationToken);
    }

    public static string PartitionKey(long portalId) => portalId.ToString(CultureInfo.InvariantCulture);

    public static string RowKey(MediaObjectSpec media) => RowKey(media.MediaType, media.ExternalId);

    private static string RowKey(string mediaType, string externalId) =>
        mediaType + "-" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(externalId)).AsSpan(0, 16));

    /// <summary>Apart from every media's row key (a media type, a dash and hex digits).</summary>
    private static string ListingRowKey(string mediaType) => "listing-" + mediaType;

    private static TableEntity Entity(long portalId, MediaObjectSpec media, long? objectId, string? fingerprint, DateTimeOffset claimedUntil) =>
        new(PartitionKey(portalId), RowKey(media))
        {
            ["MediaType"] = media.MediaType,
            ["ExternalId"] = media.ExternalId,
            ["ObjectId"] = objectId,
            ["Fingerprint"] = fingerprint,
            ["ClaimedUntil"] = claimedUntil == DateTimeOffset.MinValue ? null : claimedUntil,
        };

    private static MediaObjectRow RowOf(TableEntity entity) => new(
        entity.GetInt64("ObjectId"),
        entity.GetString("Fingerprint"),
        entity.GetDateTimeOffset("ClaimedUntil") ?? DateTimeOffset.MinValue,
        entity.ETag);
}
