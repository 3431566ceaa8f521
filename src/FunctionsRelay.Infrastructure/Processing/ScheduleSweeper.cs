using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Infrastructure.Processing;

/// <summary>
/// Moves the checks that are due from the schedule table onto the scheduled queue (the Functions app's
/// <c>SweepScheduledChecks</c> timer, the local host's sweep worker). Queued before they are removed from the table, so
/// that a sweep that stops halfway loses none: the next one queues them again, and a check done twice is a no-op.
/// </summary>
public sealed class ScheduleSweeper(ScheduledCheckTable waiting, BeaconQueue queue, TimeProvider time, ILogger<ScheduleSweeper> logger)
{
    /// <summary>Sweeps once; how many checks were due.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var due = await waiting.DueAsync(time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
        if (due.Count == 0)
            return 0;
        await queue.EnqueueDueAsync(due.Select(check => check.Message).ToList(), cancellationToken);
        await waiting.RemoveAsync(due, cancellationToken);
        logger.LogDebug("Swept {Count} due checks onto the scheduled queue", due.Count);
        return due.Count;
    }
}
