using Azure;
using Azure.Data.Tables;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>Rows of a table found by a filter, read by their keys alone: deleted (retention, a privacy deletion) or counted.</summary>
internal static class TableRows
{
    /// <summary>
    /// Deletes the rows <paramref name="filter"/> finds, but those <paramref name="keep"/> spares (it may read
    /// <paramref name="alsoRead"/> too); how many this call deleted. A row deleted by someone else meanwhile is theirs;
    /// one changed meanwhile is left too, unless <paramref name="evenIfChanged"/> (a privacy deletion erases it whatever it holds now).
    /// </summary>
    public static async Task<int> DeleteAsync(
        TableClient table, string filter, CancellationToken cancellationToken, Func<TableEntity, bool>? keep = null, string? alsoRead = null, bool evenIfChanged = false)
    {
        var deleted = 0;
        string[] select = alsoRead is null ? ["PartitionKey", "RowKey"] : ["PartitionKey", "RowKey", alsoRead];
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: select, cancellationToken: cancellationToken))
        {
            if (keep?.Invoke(entity) == true)
                continue;
            try
            {
                await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, evenIfChanged ? ETag.All : entity.ETag, cancellationToken);
                deleted++;
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
            }
        }

        return deleted;
    }

    /// <summary>How many rows <paramref name="filter"/> finds.</summary>
    public static async Task<int> CountAsync(TableClient table, string filter, CancellationToken cancellationToken)
    {
        var count = 0;
        await foreach (var _ in table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken))
            count++;
        return count;
    }
}
