using Azure;
using Azure.Data.Tables;
using FunctionsRelay.Domain.Sessions;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>A session as loaded, with the ETag that its next save must match.</summary>
public sealed record StoredSession(ViewingSession Session, ETag? ETag);

/// <summary>Someone else saved the session first: load it again and redo the change.</summary>
public sealed class SessionConflictException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Sessions in Table Storage, one entity each: partition = portal id, row = session id (escaped). The header and the
/// packed log are stored as binary properties of at most 64 KiB each (<c>H0</c>, <c>H1</c>, ... and <c>L0</c>, ...).
/// </summary>
public sealed class SessionRepository(StorageClients clients, IOptions<RelayOptions> options)
{
    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.SessionsTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<StoredSession?> GetAsync(long portalId, string sessionId, CancellationToken cancellationToken)
    {
        var response = await Table.GetEntityIfExistsAsync<TableEntity>(PartitionKey(portalId), RowKey(sessionId), cancellationToken: cancellationToken);
        if (!response.HasValue || response.Value is not { } entity)
            return null;
        var snapshot = new SessionSnapshot(System.Text.Encoding.UTF8.GetString(EntityChunks.Join(entity, "H")), EntityChunks.Join(entity, "L"));
        return new StoredSession(SessionCodec.Decode(portalId, sessionId, snapshot), entity.ETag);
    }

    /// <summary>Saves the session if nobody else did since it was loaded (<paramref name="etag"/> null: if it is new).</summary>
    public async Task<ETag> SaveAsync(ViewingSession session, ETag? etag, CancellationToken cancellationToken)
    {
        var snapshot = SessionCodec.Encode(session);
        var entity = new TableEntity(PartitionKey(session.PortalId), RowKey(session.SessionId))
        {
            ["Closed"] = session.IsClosed,
            ["Pending"] = session.Outbox.Count,
            ["Beacons"] = session.Log.Count,
        };
        EntityChunks.Split(entity, "H", System.Text.Encoding.UTF8.GetBytes(snapshot.Header));
        EntityChunks.Split(entity, "L", snapshot.Log);
        try
        {
            var response = etag is { } match
                ? await Table.UpdateEntityAsync(entity, match, TableUpdateMode.Replace, cancellationToken)
                : await Table.AddEntityAsync(entity, cancellationToken);
            return response.Headers.ETag ?? throw new InvalidOperationException("Table Storage returned no ETag");
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            throw new SessionConflictException($"session {session.PortalId}/{session.SessionId} changed since it was loaded", ex);
        }
    }

    public static string PartitionKey(long portalId) => portalId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Row keys may not hold / \ # ? or control characters; escaping keeps them readable and unique.</summary>
    public static string RowKey(string sessionId) => Uri.EscapeDataString(sessionId);
}
