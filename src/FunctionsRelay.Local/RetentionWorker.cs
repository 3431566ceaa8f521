using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.Local;

/// <summary>The retention timer on the local host: at start, then once a day (the Functions app: <c>RetentionSchedule</c>).</summary>
internal sealed class RetentionWorker(RetentionService retention, TimeProvider time, ILogger<RetentionWorker> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromDays(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            try
            {
                await retention.DeleteExpiredAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Deleting expired sessions failed; it runs again in {Interval}", Interval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
