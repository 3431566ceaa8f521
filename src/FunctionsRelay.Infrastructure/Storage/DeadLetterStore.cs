using System.Globalization;
using Azure.Data.Tables;
using FunctionsRelay.Domain.Sessions;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>
/// Events HubSpot refused (a 4xx other than 401 and 429), kept with its answer for a person to look at. The payload is
/// kept as UTF-8 in binary properties <c>Payload0</c>, ...: escaped JSON of valid beacons can pass the 64 KiB a table
/// string may hold, and a write that failed would send the same refused event again and hold back the ones behind it.
/// </summary>
public sealed class DeadLetterStore(StorageClients clients, IOptions<RelayOptions> options, TimeProvider time)
{
    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.DeadLettersTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public async Task AddAsync(long portalId, string sessionId, PendingEvent pending, int status, string? answer, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(portalId.ToString(CultureInfo.InvariantCulture), $"{SessionRepository.RowKey(sessionId)}:{pending.Key}")
        {
            ["SessionId"] = sessionId,
            ["Event"] = pending.Key,
            ["Kind"] = pending.Kind.ToString(),
            ["Status"] = status,
            ["Answer"] = answer is { Length: > 16_000 } ? answer[..16_000] : answer,
            ["RejectedAt"] = time.GetUtcNow(),
        };
        EntityChunks.Split(entity, "Payload", System.Text.Encoding.UTF8.GetBytes(pending.Payload));
        await Table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken);
    }

    public static string PayloadOf(TableEntity letter) => System.Text.Encoding.UTF8.GetString(EntityChunks.Join(letter, "Payload"));

    /// <summary>Deletes the session's dead letters (a privacy deletion), or only counts them; how many there were.</summary>
    public async Task<int> ForgetSessionAsync(long portalId, string sessionId, bool apply, CancellationToken cancellationToken)
    {
        var rowKey = SessionRepository.RowKey(sessionId);
        // A letter's row key is "{session row key}:{event key}"; ';' follows ':'.
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {portalId.ToString(CultureInfo.InvariantCulture)} and RowKey ge {rowKey + ":"} and RowKey lt {rowKey + ";"}");
        return apply
            ? await TableRows.DeleteAsync(Table, filter, cancellationToken, evenIfChanged: true)
            : await TableRows.CountAsync(Table, filter, cancellationToken);
    }
}
