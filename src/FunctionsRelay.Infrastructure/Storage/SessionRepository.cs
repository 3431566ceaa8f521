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
public sealed class SessionRepository(StorageClients clients, IOptions<RelayOptions> options, TimeProvider time)
{
    private const int MaxConflictRetries = 20;

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
            // The id itself, for the row keys that are a hash of a long one.
            ["SessionId"] = session.SessionId,
            ["Closed"] = session.IsClosed,
            ["ClosedAt"] = session.ClosedAt is { } closedAt ? DateTimeOffset.FromUnixTimeMilliseconds(closedAt) : null,
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

    /// <summary>
    /// Load (or create), change, save if unchanged since loading; on a conflict, all over again (after a short, growing,
    /// random pause). <paramref name="change"/> gets the session and whether it is new, and says whether to save it. Null
    /// when the session does not exist and is not to be made; otherwise the session, as saved or as loaded.
    /// </summary>
    public async Task<StoredSession?> UpdateAsync(
        long portalId,
        string sessionId,
        bool createIfMissing,
        Func<ViewingSession, bool, Task<bool>> change,
        CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var stored = await GetAsync(portalId, sessionId, cancellationToken);
            if (stored is null && !createIfMissing)
                return null;
            var session = stored?.Session ?? new ViewingSession(portalId, sessionId);
            if (!await change(session, stored is null))
                return new StoredSession(session, stored?.ETag);
            try
            {
                return new StoredSession(session, await SaveAsync(session, stored?.ETag, cancellationToken));
            }
            catch (SessionConflictException) when (attempt < MaxConflictRetries)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 20 * attempt)), time, cancellationToken);
            }
        }
    }

    public static string PartitionKey(long portalId) => portalId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Row keys may not hold / \ # ? or control characters; escaping keeps them readable and unique. A session id whose
    /// escaped form is longer than <see cref="MaxEscapedRowKey"/> (128 characters of non-ASCII text escape to up to 1,152,
    /// past the 1 KiB a row key holds) is keyed by its SHA-256 instead, after <c>%%</c>, which no escaped id contains.
    /// </summary>
    public static string RowKey(string sessionId)
    {
        var escaped = Uri.EscapeDataString(sessionId);
        return escaped.Length <= MaxEscapedRowKey
            ? escaped
            : "%%" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(sessionId)));
    }

    /// <summary>Leaves room in the 1 KiB row key for what other tables append (a dead letter's <c>:quartile-100</c>).</summary>
    private const int MaxEscapedRowKey = 512;
}
