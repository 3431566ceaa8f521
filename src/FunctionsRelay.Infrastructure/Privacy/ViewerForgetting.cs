using System.Globalization;
using Azure.Data.Tables;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Infrastructure.Privacy;

/// <summary>What a privacy deletion found of a viewer (and, applied, erased).</summary>
public sealed record ForgetReport(int Sessions, int HeldSessions, int SessionsWithEventsToSend, int DeadLetters, int PoisonedMessages, int Counts)
{
    public bool FoundAny => Sessions + DeadLetters + PoisonedMessages + Counts > 0;

    public override string ToString() =>
        $"{Sessions} session(s) ({HeldSessions} held for the viewer, {SessionsWithEventsToSend} with events still to send), {DeadLetters} dead letter(s), " +
        $"{PoisonedMessages} poisoned message(s), {Counts} row(s) of the viewer's counts";
}

/// <summary>
/// Erases everything the relay keeps of one viewer of one portal (docs/privacy.md): their sessions (with their outboxes,
/// held or not), the sessions' dead letters, poisoned messages that hold their beacons, their counts in table quotas and
/// what this instance has cached of them; then notes the viewer's keyed hashes as forgotten, so that beacons of theirs
/// still on their way make no session again. A viewer is found by the keyed hashes every session keeps of the ways it
/// named its viewer (utk, email, contact id, and the contact id HubSpot resolved them to): a deletion by contact id
/// finds the sessions of the utks and emails that led to that contact, and then every session of those. Idempotent.
/// </summary>
public sealed class ViewerForgetting(
    SessionRepository sessions,
    DeadLetterStore deadLetters,
    PoisonedMessageStore poisoned,
    QuotaStore quotas,
    ForgottenViewers forgotten,
    ViewerKeys keys,
    ContactResolver contacts,
    ILogger<ViewerForgetting> logger)
{
    /// <summary>The scans of the portal's sessions that follow a viewer from one name to the next (contact id to utk to more sessions).</summary>
    private const int MaxPasses = 3;

    public async Task<ForgetReport> ForgetAsync(long portalId, IReadOnlyCollection<ViewerName> names, bool apply, CancellationToken cancellationToken)
    {
        var targets = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
            targets.Add(await keys.OfAsync(name, cancellationToken));

        var found = await FindSessionsAsync(portalId, targets, cancellationToken);
        var (held, pending, letters) = (0, 0, 0);
        var cached = names.ToList();
        foreach (var sessionId in found)
        {
            if (await sessions.GetAsync(portalId, sessionId, cancellationToken) is { } stored)
            {
                held += stored.Session.AnonymousHeldSince > 0 ? 1 : 0;
                pending += stored.Session.Outbox.Count > 0 ? 1 : 0;
                cached.AddRange(keys.NamesOf(stored.Session));
            }

            letters += await deadLetters.ForgetSessionAsync(portalId, sessionId, apply, cancellationToken);
            if (apply)
                await sessions.DeleteAsync(portalId, sessionId, cancellationToken);
        }

        var poisonedCount = await ForgetPoisonedAsync(portalId, found, targets, apply, cancellationToken);
        var counts = 0;
        if (apply)
        {
            foreach (var key in targets)
                counts += await quotas.ForgetViewerAsync(portalId, key, cancellationToken);
            await forgotten.AddAsync(portalId, targets, cancellationToken);
            foreach (var name in cached)
                contacts.Forget(portalId, name.Kind == "utk" ? name.Value : null, name.Kind == "email" ? name.Value : null);
        }

        var report = new ForgetReport(found.Count, held, pending, letters, poisonedCount, counts);
        logger.LogInformation(
            "Portal {PortalId}: a privacy deletion {Action} {Sessions} sessions, {DeadLetters} dead letters, {Poisoned} poisoned messages and {Counts} rows of counts of one viewer",
            portalId,
            apply ? "erased" : "found",
            report.Sessions,
            report.DeadLetters,
            report.PoisonedMessages,
            report.Counts);
        return report;
    }

    /// <summary>
    /// The sessions whose viewer hashes meet <paramref name="targets"/>, reading only their keys and hashes; each found
    /// session's other hashes join the targets, and the portal is read again while that finds more.
    /// </summary>
    private async Task<List<string>> FindSessionsAsync(long portalId, HashSet<string> targets, CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {SessionRepository.PartitionKey(portalId)}");
        for (var pass = 0; pass < MaxPasses; pass++)
        {
            var before = targets.Count;
            await foreach (var row in sessions.Table.QueryAsync<TableEntity>(filter, select: ["RowKey", "SessionId", "Viewers"], cancellationToken: cancellationToken))
            {
                if (row.GetString("Viewers") is not { Length: > 0 } viewers)
                    continue;
                var hashes = viewers.Split(' ');
                if (!hashes.Any(targets.Contains))
                    continue;
                found[row.RowKey] = row.GetString("SessionId") ?? Uri.UnescapeDataString(row.RowKey);
                targets.UnionWith(hashes);
            }

            if (targets.Count == before)
                break;
        }

        return [.. found.Values];
    }

    /// <summary>Poisoned messages of the portal that are of a found session, or hold a beacon naming the viewer.</summary>
    private async Task<int> ForgetPoisonedAsync(long portalId, IReadOnlyCollection<string> sessionIds, IReadOnlySet<string> targets, bool apply, CancellationToken cancellationToken)
    {
        var count = 0;
        var ofSessions = sessionIds.ToHashSet(StringComparer.Ordinal);
        foreach (var message in await poisoned.ListAsync(portalId, null, cancellationToken))
        {
            if (!(message.SessionId is { } sessionId && ofSessions.Contains(sessionId)) && !await NamesViewerAsync(message, targets, cancellationToken))
                continue;
            count++;
            if (apply)
                await poisoned.DeleteAsync(message, cancellationToken);
        }

        return count;
    }

    private async Task<bool> NamesViewerAsync(PoisonedMessage message, IReadOnlySet<string> targets, CancellationToken cancellationToken)
    {
        if (RelayMessage.TryParse(message.Body) is not { Beacons: { } beacons })
            return false;
        foreach (var contact in beacons.Select(beacon => beacon.Contact).OfType<Domain.Beacons.ContactInfo>())
        {
            foreach (var name in keys.NamesOf(contact))
            {
                if (targets.Contains(await keys.OfAsync(name, cancellationToken)))
                    return true;
            }
        }

        return false;
    }
}
