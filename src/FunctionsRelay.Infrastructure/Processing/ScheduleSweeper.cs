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
    /// <summary>Checks moved at a time: a hundred queue messages.</summary>
    private const int Batch = 100 * BeaconQueue.ChecksPerMessage;

    /// <summary>Sweeps what is due, a batch at a time, for at most <see cref="LongestRun"/>; how many checks were due.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var swept = 0;
        while (true)
        {
            var due = await waiting.DueAsync(time.GetUtcNow().ToUnixTimeMilliseconds(), Batch, cancellationToken);
            if (due.Count == 0)
                break;
            await queue.EnqueueDueAsync(due.Select(check => check.Message).ToList(), cancellationToken);
            await waiting.RemoveAsync(due, cancellationToken);
            swept += due.Count;
            if (due.Count < Batch || time.GetElapsedTime(started) > LongestRun)
                break;
        }

        if (swept > 0)
            logger.LogDebug("Swept {Count} due checks onto the scheduled queue", swept);
        return swept;
    }

    /// <summary>Shorter than the Functions app's sweep schedule (5 s), so that sweeps do not overlap.</summary>
    private static readonly TimeSpan LongestRun = TimeSpan.FromSeconds(4);
}
