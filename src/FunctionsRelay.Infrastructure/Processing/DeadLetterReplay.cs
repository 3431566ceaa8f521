using System.Globalization;
using Azure;
using Azure.Data.Tables;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Delivery;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Infrastructure.Processing;

/// <summary>A kept event HubSpot refused (or the relay gave up on), as the operator chooses among them.</summary>
public sealed record DeadLetter(long PortalId, string SessionId, string Event, MediaEventKind Kind, int Status, string? Answer, DateTimeOffset RejectedAt, bool Replaying, TableEntity Entity);

/// <summary>Which dead letters: all of them, or those of a portal, a session, a HubSpot status, a time range.</summary>
public sealed record DeadLetterFilter(long? PortalId = null, string? SessionId = null, int? Status = null, DateTimeOffset? Since = null, DateTimeOffset? Until = null);

/// <summary>
/// Puts chosen dead letters back through the normal outbox after their cause is fixed: each event goes back into its
/// session's outbox and a delivery check is queued, so the processor sends it as any other. Once each: a letter is
/// marked before its event goes back and deleted after; one found marked (a replay stopped half-way) is left for a person
/// to look at rather than sent again.
/// </summary>
public sealed class DeadLetterReplay(DeadLetterStore letters, SessionRepository sessions, OutboxDeliverer outbox, ILogger<DeadLetterReplay> logger)
{
    public async Task<List<DeadLetter>> ListAsync(DeadLetterFilter filter, CancellationToken cancellationToken)
    {
        var query = filter.PortalId is { } portal ? TableClient.CreateQueryFilter($"PartitionKey eq {portal.ToString(CultureInfo.InvariantCulture)}") : null;
        var found = new List<DeadLetter>();
        await foreach (var entity in letters.Table.QueryAsync<TableEntity>(query, cancellationToken: cancellationToken))
        {
            var letter = new DeadLetter(
                long.Parse(entity.PartitionKey, CultureInfo.InvariantCulture),
                entity.GetString("SessionId") ?? "",
                entity.GetString("Event") ?? "",
                Enum.TryParse<MediaEventKind>(entity.GetString("Kind"), out var kind) ? kind : MediaEventKind.Played,
                entity.GetInt32("Status") ?? 0,
                entity.GetString("Answer"),
                entity.GetDateTimeOffset("RejectedAt") ?? DateTimeOffset.MinValue,
                entity.GetBoolean("Replaying") ?? false,
                entity);
            if ((filter.SessionId is null || letter.SessionId == filter.SessionId) && (filter.Status is null || letter.Status == filter.Status)
                && (filter.Since is null || letter.RejectedAt >= filter.Since) && (filter.Until is null || letter.RejectedAt < filter.Until))
                found.Add(letter);
        }

        return [.. found.OrderBy(l => l.RejectedAt)];
    }

    /// <summary>Puts one letter's event back; false (with the reason) when it cannot.</summary>
    public async Task<(bool Done, string Outcome)> ReplayAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        if (letter.Replaying)
            return (false, "a replay of it stopped half-way before: look at the session's outbox, then delete the letter or run with it unmarked");
        letter.Entity["Replaying"] = true;
        try
        {
            await letters.Table.UpdateEntityAsync(letter.Entity, letter.Entity.ETag, TableUpdateMode.Merge, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            return (false, "replayed or changed by someone else meanwhile");
        }

        var pending = new PendingEvent(letter.Event, letter.Kind, DeadLetterStore.PayloadOf(letter.Entity));
        var back = await sessions.UpdateAsync(letter.PortalId, letter.SessionId, createIfMissing: false, async (session, _) =>
        {
            await outbox.PutBackAsync(session, [pending], cancellationToken);
            return true;
        }, cancellationToken);
        if (back is null)
            return (false, "its session is gone (past Relay__RetentionDays); the letter stays, marked");

        await letters.Table.DeleteEntityAsync(letter.Entity.PartitionKey, letter.Entity.RowKey, ETag.All, cancellationToken);
        logger.LogInformation("Dead letter {EventKey} of session {PortalId}/{SessionId} is back in its outbox", letter.Event, letter.PortalId, letter.SessionId);
        return (true, "back in its session's outbox; a delivery check is queued");
    }
}
