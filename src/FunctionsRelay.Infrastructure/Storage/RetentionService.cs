using Azure;
using Azure.Data.Tables;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>What one pass of <see cref="RetentionService"/> deleted.</summary>
public sealed record RetentionResult(int Sessions, int DeadLetters, int Poisoned, int MetricRows, int QuotaRows = 0, int ForgottenRows = 0);

/// <summary>
/// Deletes what the relay keeps only for a while. After <c>Relay__RetentionDays</c> (30): closed sessions whose events are
/// all delivered (their beacon logs, utks, contact ids and page URLs), unless a dead letter of theirs is still kept, which
/// a replay puts back into the session's outbox. What never reached HubSpot, dead letters and poisoned messages (beacons
/// the relay answered 202 for), is kept until an operator replays it, or after <c>Relay__UndeliveredRetentionDays</c>
/// when that is set (0, the default: never deleted by retention); poisoned messages, which hold viewers' beacons, at the
/// latest after <c>Relay__PoisonedRetentionDays</c> (30). Sessions still holding events are kept whatever their
/// age, and so are tokens and media objects, which the relay goes on using. The counters of the metrics table, and the
/// rows of the quotas table, are kept <see cref="MetricsKeptFor"/>: the operator view shows a day, quotas count an hour or a
/// day. The forgotten viewers' hashes are kept <see cref="ForgottenViewers.KeptFor"/> (docs/privacy.md).
/// </summary>
public sealed class RetentionService(
    SessionRepository sessions,
    DeadLetterStore deadLetters,
    PoisonedMessageStore poisoned,
    DeliveryFigures figures,
    QuotaStore quotas,
    ForgottenViewers forgotten,
    IOptions<RelayOptions> options,
    TimeProvider time,
    ILogger<RetentionService> logger)
{
    public static readonly TimeSpan MetricsKeptFor = TimeSpan.FromDays(2);

    public async Task<RetentionResult> DeleteExpiredAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow();
        var cutoff = now - TimeSpan.FromDays(settings.RetentionDays);
        var undeliveredCutoff = settings.UndeliveredRetentionDays > 0 ? now - TimeSpan.FromDays(settings.UndeliveredRetentionDays) : (DateTimeOffset?)null;
        var deadLettersDeleted = undeliveredCutoff is { } before
            ? await TableRows.DeleteAsync(deadLetters.Table, TableClient.CreateQueryFilter($"RejectedAt lt {before}"), cancellationToken)
            : 0;
        DateTimeOffset? poisonedCutoff = settings.PoisonedRetentionDays > 0 ? now - TimeSpan.FromDays(settings.PoisonedRetentionDays) : null;
        if (undeliveredCutoff > poisonedCutoff || poisonedCutoff is null)
            poisonedCutoff = undeliveredCutoff;
        var poisonedDeleted = poisonedCutoff is { } poisonedBefore
            ? await TableRows.DeleteAsync(poisoned.Table, TableClient.CreateQueryFilter($"PoisonedAt lt {poisonedBefore}"), cancellationToken)
            : 0;
        // Read after the dead letters' own deletion: a session whose letters are all gone may go too.
        var replayable = await SessionsWithDeadLettersAsync(cancellationToken);
        var result = new RetentionResult(
            await TableRows.DeleteAsync(
                sessions.Table,
                TableClient.CreateQueryFilter($"Closed eq true and Pending eq 0 and ClosedAt lt {cutoff}"),
                cancellationToken,
                keep: entity => replayable.Contains((entity.PartitionKey, entity.GetString("SessionId") ?? Uri.UnescapeDataString(entity.RowKey))),
                alsoRead: "SessionId"),
            deadLettersDeleted,
            poisonedDeleted,
            await TableRows.DeleteAsync(figures.Table, TableClient.CreateQueryFilter($"Minute lt {now - MetricsKeptFor}"), cancellationToken),
            await TableRows.DeleteAsync(quotas.Table, TableClient.CreateQueryFilter($"CountedAt lt {now - MetricsKeptFor}"), cancellationToken),
            await TableRows.DeleteAsync(forgotten.Table, ForgottenViewers.ExpiredFilter(now), cancellationToken));
        logger.LogInformation(
            "Retention ({RetentionDays} days; undelivered: {UndeliveredRetentionDays} days, 0 keeping them until replayed): deleted {Sessions} closed sessions older than {Cutoff:u} ({Kept} kept for their dead letters), {DeadLetters} dead letters, {Poisoned} poisoned messages, {MetricRows} rows of counters, {QuotaRows} of quotas and {ForgottenRows} of forgotten viewers",
            settings.RetentionDays,
            settings.UndeliveredRetentionDays,
            result.Sessions,
            cutoff,
            replayable.Count,
            result.DeadLetters,
            result.Poisoned,
            result.MetricRows,
            result.QuotaRows,
            result.ForgottenRows);
        return result;
    }

    /// <summary>The sessions a kept dead letter belongs to, by portal (the letters' partition) and session id.</summary>
    private async Task<HashSet<(string PortalId, string SessionId)>> SessionsWithDeadLettersAsync(CancellationToken cancellationToken)
    {
        var sessionsOfLetters = new HashSet<(string, string)>();
        await foreach (var letter in deadLetters.Table.QueryAsync<TableEntity>(select: ["PartitionKey", "SessionId"], cancellationToken: cancellationToken))
            sessionsOfLetters.Add((letter.PartitionKey, letter.GetString("SessionId") ?? ""));
        return sessionsOfLetters;
    }
}
