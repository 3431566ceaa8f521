using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>
/// The keyed hashes of viewers a privacy deletion erased, per portal (table <c>Relay__ForgottenTable</c>, a row per
/// hash): beacons of such a viewer that were still on their way (a queue message, a player's retry, an mParticle
/// batch sent again) are dropped instead of making a session again. Kept <see cref="KeptFor"/>, longer than a queue
/// holds a message (7 days) and a player retries; then retention deletes them.
/// </summary>
public sealed class ForgottenViewers(StorageClients clients, IOptions<RelayOptions> options, TimeProvider time)
{
    public static readonly TimeSpan KeptFor = TimeSpan.FromDays(45);

    /// <summary>A hash found forgotten stays so; one found not forgotten is asked again after this.</summary>
    private static readonly TimeSpan NotForgottenCachedFor = TimeSpan.FromSeconds(10);

    private readonly ExpiringCache<(long PortalId, string Key), bool> _known = new(100_000, time);

    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.ForgottenTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public async Task AddAsync(long portalId, IEnumerable<string> keys, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var chunk in keys.Distinct(StringComparer.Ordinal).Chunk(100))
        {
            await Table.SubmitTransactionAsync(
                chunk.Select(key => new TableTransactionAction(
                    TableTransactionActionType.UpsertReplace,
                    new TableEntity(Partition(portalId), key) { ["ForgottenAt"] = now })),
                cancellationToken);
            foreach (var key in chunk)
                _known.Set((portalId, key), true, KeptFor);
        }
    }

    /// <summary>Whether any of the keys is of a forgotten viewer of the portal.</summary>
    public async Task<bool> AnyAsync(long portalId, IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        foreach (var key in keys)
        {
            if (_known.TryGet((portalId, key), out var cached))
            {
                if (cached)
                    return true;
                continue;
            }

            var row = await Table.GetEntityIfExistsAsync<TableEntity>(Partition(portalId), key, select: ["PartitionKey"], cancellationToken: cancellationToken);
            _known.Set((portalId, key), row.HasValue, row.HasValue ? KeptFor : NotForgottenCachedFor);
            if (row.HasValue)
                return true;
        }

        return false;
    }

    /// <summary>Rows past <see cref="KeptFor"/>, for retention.</summary>
    public static string ExpiredFilter(DateTimeOffset now) => TableClient.CreateQueryFilter($"ForgottenAt lt {now - KeptFor}");

    private static string Partition(long portalId) => portalId.ToString(CultureInfo.InvariantCulture);
}
