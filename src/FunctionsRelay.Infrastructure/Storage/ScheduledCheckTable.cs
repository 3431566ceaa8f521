using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>A check waiting in table <c>schedule</c>, by its row (its message carries its due time).</summary>
public sealed record WaitingCheck(string PartitionKey, string RowKey, RelayMessage Message);

/// <summary>
/// Checks due later than <c>Relay__ScheduledCheckTableAfter</c> (a session's close check at its idle timeout, a delivery
/// check at the end of a lease) wait here rather than invisibly on the scheduled queue, whose message count, invisible
/// messages included, is what Azure's scale controller scales its trigger by. Partition = the minute they are due (ten
/// digits, so that string order is time order), row = their due time and a unique suffix. The sweep
/// (<see cref="Processing.ScheduleSweeper"/>) moves what is due onto the queue, many checks to a message.
/// </summary>
public sealed class ScheduledCheckTable(StorageClients clients, IOptions<RelayOptions> options)
{
    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.ScheduleTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public Task AddAsync(RelayMessage check, long dueAt, CancellationToken cancellationToken) =>
        Table.AddEntityAsync(
            new TableEntity(MinuteOf(dueAt), dueAt.ToString("D13", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N"))
            {
                ["DueAt"] = dueAt,
                ["Message"] = BinaryData.FromBytes((check with { DueAt = dueAt }).ToUtf8Json()).ToString(),
            },
            cancellationToken);

    /// <summary>Checks due by <paramref name="now"/>, oldest minute first, at most <paramref name="max"/>.</summary>
    public async Task<List<WaitingCheck>> DueAsync(long now, int max, CancellationToken cancellationToken)
    {
        var due = new List<WaitingCheck>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey le {MinuteOf(now)} and DueAt le {now}");
        await foreach (var entity in Table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            if (due.Count >= max)
                break;
            // A row that is no check (written by hand, or by a later build) is skipped, not swept for ever.
            if (entity.GetString("Message") is { } body && RelayMessage.TryParse(BinaryData.FromString(body)) is { } message)
                due.Add(new WaitingCheck(entity.PartitionKey, entity.RowKey, message));
        }

        return due;
    }

    /// <summary>Removes checks that are on the queue now: a transaction per minute and hundred rows.</summary>
    public async Task RemoveAsync(IEnumerable<WaitingCheck> checks, CancellationToken cancellationToken)
    {
        foreach (var minute in checks.GroupBy(check => check.PartitionKey))
        {
            foreach (var chunk in minute.Chunk(100))
            {
                try
                {
                    await Table.SubmitTransactionAsync(
                        chunk.Select(check => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(check.PartitionKey, check.RowKey), ETag.All)),
                        cancellationToken);
                }
                catch (TableTransactionFailedException ex) when (ex.Status == 404)
                {
                    // Another sweep removed some of them first: remove the rest one by one.
                    foreach (var check in chunk)
                        await Table.DeleteEntityAsync(check.PartitionKey, check.RowKey, ETag.All, cancellationToken);
                }
            }
        }
    }

    private static string MinuteOf(long at) => (at / 60_000).ToString("D10", CultureInfo.InvariantCulture);
}
