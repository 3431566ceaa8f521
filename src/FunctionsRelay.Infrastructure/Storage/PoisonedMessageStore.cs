using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>A message the queue listener gave up on, as kept for an operator: what it held, and the queue it came from.</summary>
public sealed record PoisonedMessage(
    string Queue,
    string MessageId,
    long? PortalId,
    string? SessionId,
    RelayMessageKind? Kind,
    int Beacons,
    DateTimeOffset PoisonedAt,
    BinaryData Body);

/// <summary>
/// Messages moved to a poison queue, kept in a table (<c>Relay__PoisonedTable</c>) by portal, so that an operator can list
/// them and put them back on their queue after a fix (<c>relay poison</c>). The body is kept as its bytes (binary chunks),
/// whatever it holds; a body that is no relay message is kept under the partition <c>unreadable</c>.
/// </summary>
public sealed class PoisonedMessageStore(StorageClients clients, IOptions<RelayOptions> options, TimeProvider time)
{
    public const string Unreadable = "unreadable";

    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.PoisonedTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    /// <summary>Keeps a poisoned message; the same message kept twice (its handler retried) is one row.</summary>
    public async Task<PoisonedMessage> KeepAsync(string queue, string messageId, BinaryData body, CancellationToken cancellationToken)
    {
        var message = RelayMessage.TryParse(body);
        var poisoned = new PoisonedMessage(
            queue, messageId, message?.PortalId, message?.SessionId, message?.Kind, message?.Beacons?.Count ?? 0, time.GetUtcNow(), body);
        var entity = new TableEntity(poisoned.PortalId?.ToString(CultureInfo.InvariantCulture) ?? Unreadable, messageId)
        {
            ["Queue"] = queue,
            ["SessionId"] = poisoned.SessionId,
            ["Kind"] = poisoned.Kind?.ToString(),
            ["Beacons"] = poisoned.Beacons,
            ["PoisonedAt"] = poisoned.PoisonedAt,
        };
        EntityChunks.Split(entity, "Body", body.ToArray());
        await Table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken);
        return poisoned;
    }

    /// <summary>The kept messages, of one portal and session when given, oldest first.</summary>
    public async Task<List<PoisonedMessage>> ListAsync(long? portalId, string? sessionId, CancellationToken cancellationToken)
    {
        var filter = portalId is { } portal ? TableClient.CreateQueryFilter($"PartitionKey eq {portal.ToString(CultureInfo.InvariantCulture)}") : null;
        var kept = new List<PoisonedMessage>();
        await foreach (var entity in Table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            var message = Of(entity);
            if (sessionId is null || message.SessionId == sessionId)
                kept.Add(message);
        }

        return [.. kept.OrderBy(m => m.PoisonedAt)];
    }

    /// <summary>Puts a kept message back on its queue, then forgets it: a crash between the two puts it back twice, which merging takes as duplicates.</summary>
    public async Task ReplayAsync(PoisonedMessage message, CancellationToken cancellationToken)
    {
        await clients.Queues.GetQueueClient(message.Queue).SendMessageAsync(message.Body, cancellationToken: cancellationToken);
        try
        {
            await Table.DeleteEntityAsync(message.PortalId?.ToString(CultureInfo.InvariantCulture) ?? Unreadable, message.MessageId, ETag.All, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
        }
    }

    private static PoisonedMessage Of(TableEntity entity) => new(
        entity.GetString("Queue"),
        entity.RowKey,
        entity.PartitionKey == Unreadable ? null : long.Parse(entity.PartitionKey, CultureInfo.InvariantCulture),
        entity.GetString("SessionId"),
        Enum.TryParse<RelayMessageKind>(entity.GetString("Kind"), out var kind) ? kind : null,
        entity.GetInt32("Beacons") ?? 0,
        entity.GetDateTimeOffset("PoisonedAt") ?? DateTimeOffset.MinValue,
        new BinaryData(EntityChunks.Join(entity, "Body")));
}
