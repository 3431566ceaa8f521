using System.Globalization;
using Azure.Data.Tables;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Delivery;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Processing;

/// <summary>
/// A closed session's events under today's rules beside the ones it decided when it ran: <see cref="Missing"/> are due
/// and were never decided (so never sent), <see cref="NoLongerDue"/> were decided and would not be now (HubSpot keeps
/// them: it has no delete for these events).
/// </summary>
public sealed record RederivedSession(long PortalId, string SessionId, IReadOnlyList<string> Decided, IReadOnlyList<PendingEvent> Missing, IReadOnlyList<string> NoLongerDue);

/// <summary>
/// After a fix to the session rules, recomputes the events of stored closed sessions from their beacon logs and compares
/// them with what each decided. Applying sends only the missing ones, through the session's outbox: HubSpot has no
/// idempotency key and no delete for media events, so nothing it may already have is ever sent again, and a session
/// re-derived twice sends nothing the second time (the events it added count as decided).
/// </summary>
public sealed class SessionRederive(SessionRepository sessions, OutboxDeliverer outbox, IOptions<SessionOptions> options, ILogger<SessionRederive> logger)
{
    public async Task<List<RederivedSession>> CompareAsync(long? portalId, DateTimeOffset? since, DateTimeOffset? until, CancellationToken cancellationToken)
    {
        var filter = portalId is { } portal
            ? TableClient.CreateQueryFilter($"PartitionKey eq {portal.ToString(CultureInfo.InvariantCulture)} and Closed eq true")
            : TableClient.CreateQueryFilter($"Closed eq true");
        var compared = new List<RederivedSession>();
        await foreach (var row in sessions.Table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey", "SessionId", "ClosedAt"], cancellationToken: cancellationToken))
        {
            var closedAt = row.GetDateTimeOffset("ClosedAt");
            if ((since is not null && closedAt < since) || (until is not null && closedAt >= until))
                continue;
            // Rows saved before the id was kept beside the key: their key is the escaped id.
            var sessionId = row.GetString("SessionId") ?? Uri.UnescapeDataString(row.RowKey);
            if (await sessions.GetAsync(long.Parse(row.PartitionKey, CultureInfo.InvariantCulture), sessionId, cancellationToken) is not { } stored)
                continue;
            compared.Add(Compare(stored.Session));
        }

        return compared;
    }

    /// <summary>Adds the session's missing events to its outbox (queuing a delivery check first) and records them as decided.</summary>
    public async Task<int> ApplyAsync(RederivedSession rederived, CancellationToken cancellationToken)
    {
        IReadOnlyList<PendingEvent> missing = [];
        await sessions.UpdateAsync(rederived.PortalId, rederived.SessionId, createIfMissing: false, async (session, _) =>
        {
            missing = Compare(session).Missing;
            if (missing.Count == 0)
                return false;
            foreach (var pending in missing)
                session.Decided |= EventPlanner.FlagOf(pending.Key);
            await outbox.PutBackAsync(session, missing, cancellationToken);
            return true;
        }, cancellationToken);
        if (missing.Count > 0)
        {
            logger.LogInformation(
                "Session {PortalId}/{SessionId} re-derived: {Missing} sent now",
                rederived.PortalId,
                rederived.SessionId,
                string.Join(", ", missing.Select(e => e.Key)));
        }

        return missing.Count;
    }

    /// <summary>Every event a session can decide, in the order it decides them.</summary>
    private static readonly string[] EventKeys = ["played", "quartile-0", "quartile-25", "quartile-50", "quartile-75", "quartile-100", "attention-span"];

    private RederivedSession Compare(ViewingSession session)
    {
        var due = EventPlanner.Rederive(session, options.Value);
        var decided = EventKeys.Where(key => session.Decided.HasFlag(EventPlanner.FlagOf(key))).ToList();
        return new RederivedSession(
            session.PortalId,
            session.SessionId,
            decided,
            due.Where(e => !session.Decided.HasFlag(EventPlanner.FlagOf(e.Key))).ToList(),
            decided.Where(key => due.All(e => e.Key != key)).ToList());
    }
}
