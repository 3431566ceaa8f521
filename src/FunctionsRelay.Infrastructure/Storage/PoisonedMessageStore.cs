using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using Microsoft.AspNetCore.DataProtection;
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
/// whatever it holds, encrypted with the key ring (it holds viewers' utks and contact ids), for
/// <c>Relay__PoisonedRetentionDays</c>; a body that is no relay message is kept under the partition <c>unreadable</c>.
/// </summary>
public sealed class PoisonedMessageStore(StorageClients clients, IOptions<RelayOptions> options, TimeProvider time, IDataProtectionProvider? dataProtection = null)
{
    public const string Unreadable = "unreadable";

    private readonly IDataProtector? _protector = dataProtection?.CreateProtector("FunctionsRelay.PoisonedMessages");

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
        if (_protector is not null)
            entity["Encrypted"] = true;
        EntityChunks.Split(entity, "Body", _protector is null ? body.ToArray() : _protector.Protect(body.ToArray()));
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

    /// <summary>Deletes a kept message (a privacy deletion).</summary>
    public async Task DeleteAsync(PoisonedMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await Table.DeleteEntityAsync(message.PortalId?.ToString(CultureInfo.InvariantCulture) ?? Unreadable, message.MessageId, ETag.All, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
        }
    }

    private byte[] BodyOf(TableEntity entity)
    {
        var stored = EntityChunks.Join(entity, "Body");
        if (entity.GetBoolean("Encrypted") != true)
            return stored;
        return _protector is not null
            ? _protector.Unprotect(stored)
            : throw new InvalidOperationException("the poisoned message is encrypted and this relay has no key ring to read it");
    }

    private PoisonedMessage Of(TableEntity entity) => new(
        entity.GetString("Queue"),
        entity.RowKey,
        entity.PartitionKey == Unreadable ? null : long.Parse(entity.PartitionKey, CultureInfo.InvariantCulture),
        entity.GetString("SessionId"),
        Enum.TryParse<RelayMessageKind>(entity.GetString("Kind"), out var kind) ? kind : null,
        entity.GetInt32("Beacons") ?? 0,
        entity.GetDateTimeOffset("PoisonedAt") ?? DateTimeOffset.MinValue,
        new BinaryData(BodyOf(entity)));
}
