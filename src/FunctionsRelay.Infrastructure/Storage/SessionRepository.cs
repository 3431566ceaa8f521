using Azure;
using Azure.Data.Tables;
using FunctionsRelay.Domain.Sessions;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>A session as loaded, with the ETag that its next save must match.</summary>
public sealed record StoredSession(ViewingSession Session, ETag? ETag);

/// <summary>Someone else saved the session first: load it again and redo the change.</summary>
public sealed class SessionConflictException(string message, Exception inner) : Exception(message, inner);

/// <summary>A session that would take more than a Table Storage entity holds (1 MiB): not saved, as storage would refuse it.</summary>
public sealed class SessionTooLargeException(string message) : Exception(message);

/// <summary>
/// Sessions in Table Storage, one entity each: partition = portal id, row = session id (escaped). The header and the
/// packed log are stored as binary properties of at most 64 KiB each (<c>H0</c>, <c>H1</c>, ... and <c>L0</c>, ...).
/// </summary>
/// <remarks>
/// Each session this instance last saved or read is kept as stored, with its ETag, for <see cref="KeptFor"/>. An update
/// starts from that copy instead of reading the row again when its change is saved: the save's ETag match proves the copy
/// was current, and a mismatch (another instance saved since) is redone at once on a fresh read. A change that is not
/// saved proves nothing, so it is redone on a fresh read too. A stale copy costs one refused write where a current one
/// saves a read, so copies are used only while well over half (<see cref="UseCopiesFromShare"/>) of them have been found
/// current lately (one instance: nearly all; n instances sharing a queue: near one in n, and then every update reads first,
/// as without the copies, while still measuring whether its copy would have been current).
/// </remarks>
public sealed class SessionRepository(StorageClients clients, IOptions<RelayOptions> options, TimeProvider time)
{
    private const int MaxConflictRetries = 20;

    /// <summary>A session plays for minutes with a message every few seconds; a close check after its idle timeout reads it afresh.</summary>
    private static readonly TimeSpan KeptFor = TimeSpan.FromMinutes(2);

    /// <summary>About 3 KiB each (a 2-hour session's log is 5 KiB): tens of MiB at most.</summary>
    private readonly ExpiringCache<(long PortalId, string SessionId), (SessionSnapshot Snapshot, ETag ETag, DateTimeOffset At)> _lastStored = new(10_000, time);

    private readonly object _currentShareLock = new();
    private double _currentShare = 1;

    /// <summary>
    /// How many of this instance's kept copies were current when an update that saved came for them (moving average, 1 =
    /// all): used ones as their save found them, unused ones as the read found them.
    /// </summary>
    public double CurrentShare
    {
        get { lock (_currentShareLock) return _currentShare; }
    }

    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.SessionsTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<StoredSession?> GetAsync(long portalId, string sessionId, CancellationToken cancellationToken)
    {
        var response = await Table.GetEntityIfExistsAsync<TableEntity>(PartitionKey(portalId), RowKey(sessionId), cancellationToken: cancellationToken);
        if (!response.HasValue || response.Value is not { } entity)
        {
            _lastStored.Remove((portalId, sessionId));
            return null;
        }

        var snapshot = new SessionSnapshot(System.Text.Encoding.UTF8.GetString(EntityChunks.Join(entity, "H")), EntityChunks.Join(entity, "L"));
        _lastStored.Set((portalId, sessionId), (snapshot, entity.ETag, time.GetUtcNow()), KeptFor);
        return new StoredSession(SessionCodec.Decode(portalId, sessionId, snapshot), entity.ETag);
    }

    /// <summary>
    /// The copy this instance last saved or read, if it is to be used in place of a read; <paramref name="measured"/>: the
    /// ETag of a copy old enough to tell whether copies stay current between messages.
    /// </summary>
    private StoredSession? Kept(long portalId, string sessionId, out ETag? measured)
    {
        measured = null;
        if (!_lastStored.TryGet((portalId, sessionId), out var kept))
            return null;
        if (time.GetUtcNow() - kept.At >= NotMeasuredFor)
            measured = kept.ETag;
        return CurrentShare >= UseCopiesFromShare ? new StoredSession(SessionCodec.Decode(portalId, sessionId, kept.Snapshot), kept.ETag) : null;
    }

    /// <summary>
    /// A copy saved this recently is mostly the same message's work (a delivery saving what it sent, then updating): not
    /// counted, or it would hide how often copies from earlier messages are stale when instances share a queue.
    /// </summary>
    private static readonly TimeSpan NotMeasuredFor = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A current copy saves a read, a stale one costs a refused write (and a retry's wait): at a half they would cost as
    /// much as they save. Well above that, since the share moves with the mix of sessions: four instances under a backlog
    /// found 42 % of their copies current, and by moments over 60 %, when the copies were a loss.
    /// </summary>
    private const double UseCopiesFromShare = 0.75;

    private void NoteCurrent(bool current)
    {
        lock (_currentShareLock)
            _currentShare = (_currentShare * 0.99) + (current ? 0.01 : 0);
    }

    /// <summary>What a Table Storage entity holds at most (1 MiB), less room for the service's own properties.</summary>
    public const int MaxEntityBytes = 1024 * 1024 - 4096;

    /// <summary>
    /// A session stored this large (its header and log) takes no more beacons but an end (they count as over the log's
    /// limit): what its events may still add when they are decided (an attention span and the last quartiles, each with
    /// the media's, page's and viewer's texts, some 40 KiB apiece at most) must fit under <see cref="MaxEntityBytes"/> with
    /// its binary values in base64, as they travel. Only a log limit raised past the default with tens of thousands of seeks
    /// comes near it; a 2-hour session takes about 10 KiB.
    /// </summary>
    public const int TakesNoBeaconsFromBytes = 576 * 1024;

    /// <summary>Saves the session if nobody else did since it was loaded (<paramref name="etag"/> null: if it is new).</summary>
    /// <exception cref="SessionTooLargeException">The session would not fit one entity: nothing is written.</exception>
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
            // Keyed hashes of its viewer, what a privacy deletion finds the session by without reading every header.
            ["Viewers"] = session.ViewerKeys.Count == 0 ? null : string.Join(' ', session.ViewerKeys),
        };
        EntityChunks.Split(entity, "H", System.Text.Encoding.UTF8.GetBytes(snapshot.Header));
        EntityChunks.Split(entity, "L", snapshot.Log);
        if (EntityChunks.SizeOf(entity) is var size && size > MaxEntityBytes)
            throw new SessionTooLargeException($"session {session.PortalId}/{session.SessionId} would take {size} bytes: more than the {MaxEntityBytes} a table entity holds");
        session.StoredBytes = snapshot.Bytes;
        var key = (session.PortalId, session.SessionId);
        try
        {
            var response = etag is { } match
                ? await Table.UpdateEntityAsync(entity, match, TableUpdateMode.Replace, cancellationToken)
                : await Table.AddEntityAsync(entity, cancellationToken);
            var saved = response.Headers.ETag ?? throw new InvalidOperationException("Table Storage returned no ETag");
            _lastStored.Set(key, (snapshot, saved, time.GetUtcNow()), KeptFor);
            return saved;
        }
        // 404: the row was removed (retention) since it was loaded.
        catch (RequestFailedException ex) when (ex.Status is 409 or 412 || (ex.Status == 404 && etag is not null))
        {
            _lastStored.Remove(key);
            throw new SessionConflictException($"session {session.PortalId}/{session.SessionId} changed since it was loaded", ex);
        }
        catch
        {
            // Not known whether it was saved.
            _lastStored.Remove(key);
            throw;
        }
    }

    /// <summary>Deletes the session whatever its state (a privacy deletion); false if it was not there.</summary>
    public async Task<bool> DeleteAsync(long portalId, string sessionId, CancellationToken cancellationToken)
    {
        _lastStored.Remove((portalId, sessionId));
        try
        {
            await Table.DeleteEntityAsync(PartitionKey(portalId), RowKey(sessionId), ETag.All, cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return false;
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
        var kept = Kept(portalId, sessionId, out var measuredETag);
        for (var attempt = 1; ; attempt++)
        {
            var fromKept = kept is not null;
            var stored = kept ?? await GetAsync(portalId, sessionId, cancellationToken);
            kept = null;
            if (stored is null && !createIfMissing)
                return null;
            var session = stored?.Session ?? new ViewingSession(portalId, sessionId);
            if (!await change(session, stored is null))
            {
                // Costs a read, as it would have without the copy: no measure of the copies either way.
                if (fromKept)
                {
                    attempt--;
                    continue;
                }

                return new StoredSession(session, stored?.ETag);
            }

            // Copies not in use: would this one have been current? (Only for changes that save: the others are even.)
            var measured = measuredETag;
            measuredETag = null;
            if (!fromKept && measured is { } unused)
                NoteCurrent(unused == stored?.ETag);
            try
            {
                var saved = new StoredSession(session, await SaveAsync(session, stored?.ETag, cancellationToken));
                if (fromKept && measured is not null)
                    NoteCurrent(true);
                return saved;
            }
            catch (SessionConflictException) when (fromKept)
            {
                // The copy was stale, not a race: read and redo at once.
                if (measured is not null)
                    NoteCurrent(false);
                attempt--;
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
