using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>
/// Per-portal counts of what a window allows, shared by every instance (table <c>quotas</c>): partition = portal id, row =
/// the quota and its window (<c>media-made-20261202</c>, <c>held-2026120214</c>), its count ETag-guarded; and the
/// portal's HubSpot budget and its look-ups' share of it (<c>hubspot-budget</c>, <c>hubspot-lookups</c>: token buckets,
/// see <see cref="HubSpot.HubSpotPacer"/>). Rows live a day past their window (<see cref="RetentionService"/> deletes them after).
/// </summary>
public sealed class QuotaStore(StorageClients clients, IOptions<RelayOptions> options, TimeProvider time)
{
    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.QuotasTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    /// <summary>
    /// Media objects beacons made in the portal: one more taken unless <paramref name="perDay"/> are made today (UTC) or
    /// <paramref name="perHour"/> this hour.
    /// </summary>
    public async Task<QuotaTake> TakeMediaMadeAsync(long portalId, int perDay, int perHour, CancellationToken cancellationToken)
    {
        var (today, thisHour) = await MediaMadeAsync(portalId, cancellationToken);
        if (today >= perDay || thisHour >= perHour)
            return QuotaTake.Full;
        var hour = await TakeAsync(portalId, "media-made-h" + Hour, perHour, cancellationToken);
        return hour == QuotaTake.Taken ? await TakeAsync(portalId, "media-made-" + Day, perDay, cancellationToken) : hour;
    }

    /// <summary>How many media objects beacons made in the portal today and this hour: read before anything is asked of HubSpot for a new media.</summary>
    public async Task<(int Today, int ThisHour)> MediaMadeAsync(long portalId, CancellationToken cancellationToken) =>
        (await CountAsync(portalId, "media-made-" + Day, cancellationToken), await CountAsync(portalId, "media-made-h" + Hour, cancellationToken));

    /// <summary>
    /// Sessions of one viewer (its pseudonym) begun in the portal this hour; one more taken unless <paramref name="limit"/>
    /// are. <c>Count</c>: the sessions counted with this one.
    /// </summary>
    public Task<(QuotaTake Take, int Count)> TakeViewerSessionAsync(long portalId, string viewer, int limit, CancellationToken cancellationToken) =>
        TakeCountedAsync(portalId, $"viewer-{viewer}-{Hour}", limit, cancellationToken);

    /// <summary>Deletes a viewer's counts of sessions (a privacy deletion); how many rows went.</summary>
    public Task<int> ForgetViewerAsync(long portalId, string viewer, CancellationToken cancellationToken)
    {
        var partition = portalId.ToString(CultureInfo.InvariantCulture);
        // '-' is followed by '.': every row key that begins "viewer-{viewer}-".
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {$"viewer-{viewer}-"} and RowKey lt {$"viewer-{viewer}."}");
        return TableRows.DeleteAsync(Table, filter, cancellationToken, evenIfChanged: true);
    }

    /// <summary>Viewers who are no contact that one client address (its pseudonym) brought to the portal this hour; one more counted unless <paramref name="limit"/> are.</summary>
    public Task<QuotaTake> TakeUnknownViewerAsync(long portalId, string source, int limit, CancellationToken cancellationToken) =>
        TakeAsync(portalId, $"unknown-{source}-{Hour}", limit, cancellationToken);

    /// <summary>Viewers who are no contact the client address brought the portal this hour (UTC).</summary>
    public Task<int> UnknownViewersAsync(long portalId, string source, CancellationToken cancellationToken) =>
        CountAsync(portalId, $"unknown-{source}-{Hour}", cancellationToken);

    /// <summary>
    /// Notes that the client address brought the portal more viewers who are no contact than one may in an hour: kept
    /// the two days quota rows live, so that the sessions of it held meanwhile are dropped at their next check.
    /// </summary>
    public Task MarkSuspectSourceAsync(long portalId, string source, CancellationToken cancellationToken) =>
        Table.UpsertEntityAsync(
            new TableEntity(portalId.ToString(CultureInfo.InvariantCulture), $"suspect-{source}") { ["CountedAt"] = time.GetUtcNow() },
            TableUpdateMode.Replace,
            cancellationToken);

    /// <summary>Whether the client address was noted (<see cref="MarkSuspectSourceAsync"/>) in the last two days.</summary>
    public async Task<bool> IsSuspectSourceAsync(long portalId, string source, CancellationToken cancellationToken) =>
        (await Table.GetEntityIfExistsAsync<TableEntity>(portalId.ToString(CultureInfo.InvariantCulture), $"suspect-{source}", ["CountedAt"], cancellationToken)).HasValue;

    /// <summary>Contacts the relay created in the portal today (UTC), for emails HubSpot did not know; one more unless <paramref name="limit"/> are.</summary>
    public Task<QuotaTake> TakeContactMadeAsync(long portalId, int limit, CancellationToken cancellationToken) =>
        TakeAsync(portalId, "contacts-made-" + Day, limit, cancellationToken);

    private async Task<int> CountAsync(long portalId, string rowKey, CancellationToken cancellationToken)
    {
        var row = await Table.GetEntityIfExistsAsync<TableEntity>(portalId.ToString(CultureInfo.InvariantCulture), rowKey, ["Count"], cancellationToken);
        return row.HasValue ? row.Value!.GetInt32("Count") ?? 0 : 0;
    }

    /// <summary>Sessions held for a viewer who is not a contact, begun in the portal this hour (UTC); one more taken unless <paramref name="limit"/> are.</summary>
    public Task<QuotaTake> TakeHeldAsync(long portalId, int limit, CancellationToken cancellationToken) =>
        TakeAsync(portalId, "held-" + Hour, limit, cancellationToken);

    private string Day => time.GetUtcNow().ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    private string Hour => time.GetUtcNow().ToString("yyyyMMddHH", CultureInfo.InvariantCulture);

    /// <summary>One of the portal's shared token buckets as last written (null: none yet), with its ETag.</summary>
    public async Task<BudgetRow?> GetBudgetAsync(long portalId, string bucket, CancellationToken cancellationToken)
    {
        var row = await Table.GetEntityIfExistsAsync<TableEntity>(portalId.ToString(CultureInfo.InvariantCulture), bucket, cancellationToken: cancellationToken);
        return row.HasValue && row.Value is { } entity
            ? new BudgetRow(entity.GetDouble("Tokens") ?? 0, entity.GetDateTimeOffset("At") ?? DateTimeOffset.MinValue, entity.ETag)
            : null;
    }

    /// <summary>Writes a bucket over the version read (<paramref name="read"/> null: only if there is none yet); its new ETag, or null if someone wrote it since.</summary>
    public async Task<ETag?> TryWriteBudgetAsync(long portalId, string bucket, double tokens, DateTimeOffset at, BudgetRow? read, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(portalId.ToString(CultureInfo.InvariantCulture), bucket) { ["Tokens"] = tokens, ["At"] = at, ["CountedAt"] = at };
        try
        {
            var response = read is { } known
                ? await Table.UpdateEntityAsync(entity, known.ETag, TableUpdateMode.Replace, cancellationToken)
                : await Table.AddEntityAsync(entity, cancellationToken);
            return response.Headers.ETag;
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 409 or 412)
        {
            return null;
        }
    }

    /// <summary>
    /// Counts one more in the row, unless <paramref name="limit"/> are counted already (<see cref="QuotaTake.Full"/>);
    /// <see cref="QuotaTake.Contended"/> when other instances kept counting in it too long to tell: neither taken nor
    /// refused, to be asked again shortly (what the count guards is never dropped for it).
    /// </summary>
    private async Task<QuotaTake> TakeAsync(long portalId, string rowKey, int limit, CancellationToken cancellationToken) =>
        (await TakeCountedAsync(portalId, rowKey, limit, cancellationToken)).Take;

    private async Task<(QuotaTake Take, int Count)> TakeCountedAsync(long portalId, string rowKey, int limit, CancellationToken cancellationToken)
    {
        var partition = portalId.ToString(CultureInfo.InvariantCulture);
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var current = await Table.GetEntityIfExistsAsync<TableEntity>(partition, rowKey, cancellationToken: cancellationToken);
            var count = current.HasValue ? current.Value!.GetInt32("Count") ?? 0 : 0;
            if (count >= limit)
                return (QuotaTake.Full, count);
            var next = new TableEntity(partition, rowKey) { ["Count"] = count + 1, ["CountedAt"] = time.GetUtcNow() };
            try
            {
                if (current.HasValue)
                    await Table.UpdateEntityAsync(next, current.Value!.ETag, TableUpdateMode.Replace, cancellationToken);
                else
                    await Table.AddEntityAsync(next, cancellationToken);
                return (QuotaTake.Taken, count + 1);
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412)
            {
                // Another instance counted meanwhile: read again, after a pause that grows with the contention.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 25 * (attempt + 2))), time, cancellationToken);
            }
        }

        return (QuotaTake.Contended, 0);
    }
}

/// <summary>What counting one more against a quota came to.</summary>
public enum QuotaTake
{
    Taken,

    /// <summary>The window's bound is reached: refused.</summary>
    Full,

    /// <summary>Other instances counted in the row too often to get a write in: ask again shortly.</summary>
    Contended,
}

/// <summary>A portal's shared HubSpot budget: the tokens left at <see cref="At"/>, and the row's version.</summary>
public sealed record BudgetRow(double Tokens, DateTimeOffset At, ETag ETag);
