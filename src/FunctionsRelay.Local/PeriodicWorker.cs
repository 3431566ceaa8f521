using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.Local;

/// <summary>
/// A timer of the Functions app, as the local host runs it: <see cref="RunOnceAsync"/> every interval (and at start when
/// <paramref name="atStart"/>), a failure logged and tried again at the next tick rather than stopping the host; a missing
/// queue or table logged once by name, as the Functions app's timers do.
/// </summary>
internal abstract class PeriodicWorker(TimeSpan interval, bool atStart, TimeProvider time, ILogger logger, MissingStorage missing) : BackgroundService
{
    /// <summary>What the run does, said in the warning when it fails ("The token refresh").</summary>
    protected abstract string What { get; }

    protected abstract Task RunOnceAsync(CancellationToken cancellationToken);

    protected virtual bool Enabled => true;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
            return;
        using var timer = new PeriodicTimer(interval, time);
        if (atStart)
            await RunAsync(stoppingToken);
        while (await timer.WaitForNextTickAsync(stoppingToken))
            await RunAsync(stoppingToken);
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            await missing.RunAsync(RunOnceAsync, stoppingToken);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning(ex, "{What} failed; it runs again in {Interval}", What, interval);
        }
    }
}
