using Azure;
using Azure.Data.Tables;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>What one pass of <see cref="RetentionService"/> deleted.</summary>
public sealed record RetentionResult(int Sessions, int DeadLetters, int Poisoned, int MetricRows);

/// <summary>
/// Deletes what the relay keeps only for a while, after <c>Relay__RetentionDays</c> (30): closed sessions whose events
/// are all delivered (their beacon logs, utks, contact ids and page URLs), dead letters and poisoned messages. Sessions
/// still holding events are kept whatever their age, and so are tokens and media objects, which the relay goes on using.
/// The counters of the metrics table are kept <see cref="MetricsKeptFor"/>: the operator view shows a day.
/// </summary>
public sealed class RetentionService(
    SessionRepository sessions,
    DeadLetterStore deadLetters,
    PoisonedMessageStore poisoned,
    DeliveryFigures figures,
    IOptions<RelayOptions> options,
    TimeProvider time,
    ILogger<RetentionService> logger)
{
    public static readonly TimeSpan MetricsKeptFor = TimeSpan.FromDays(2);

    public async Task<RetentionResult> DeleteExpiredAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - TimeSpan.FromDays(options.Value.RetentionDays);
        var result = new RetentionResult(
            await DeleteAsync(sessions.Table, TableClient.CreateQueryFilter($"Closed eq true and Pending eq 0 and ClosedAt lt {cutoff}"), cancellationToken),
            await DeleteAsync(deadLetters.Table, TableClient.CreateQueryFilter($"RejectedAt lt {cutoff}"), cancellationToken),
            await DeleteAsync(poisoned.Table, TableClient.CreateQueryFilter($"PoisonedAt lt {cutoff}"), cancellationToken),
            await DeleteAsync(figures.Table, TableClient.CreateQueryFilter($"Minute lt {time.GetUtcNow() - MetricsKeptFor}"), cancellationToken));
        logger.LogInformation(
            "Retention ({RetentionDays} days): deleted {Sessions} closed sessions, {DeadLetters} dead letters and {Poisoned} poisoned messages older than {Cutoff:u}, and {MetricRows} rows of counters",
            options.Value.RetentionDays,
            result.Sessions,
            result.DeadLetters,
            result.Poisoned,
            cutoff,
            result.MetricRows);
        return result;
    }

    /// <summary>Deletes the matching entities, each only if unchanged since it was read (a session saved meanwhile stays).</summary>
    private static async Task<int> DeleteAsync(TableClient table, string filter, CancellationToken cancellationToken)
    {
        var deleted = 0;
        await foreach (var entity in table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken))
        {
            try
            {
                await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, entity.ETag, cancellationToken);
                deleted++;
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
            }
        }

        return deleted;
    }
}
