using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Processing;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Local;

/// <summary>The schedule sweep on the local host, every <c>Relay__ScheduleSweepInterval</c> (the Functions app: <c>ScheduleSweepSchedule</c>).</summary>
internal sealed class ScheduleSweepWorker(ScheduleSweeper sweeper, IOptions<RelayOptions> options, TimeProvider time, ILogger<ScheduleSweepWorker> logger, MissingStorage missing)
    : PeriodicWorker(options.Value.ScheduleSweepInterval, atStart: false, time, logger, missing)
{
    protected override string What => "Sweeping the due checks onto the queue";

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => sweeper.SweepAsync(cancellationToken);
}
