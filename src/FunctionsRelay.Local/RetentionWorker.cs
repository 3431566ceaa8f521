using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.Local;

/// <summary>The retention timer on the local host: at start, then once a day (the Functions app: <c>RetentionSchedule</c>).</summary>
internal sealed class RetentionWorker(RetentionService retention, TimeProvider time, ILogger<RetentionWorker> logger, MissingStorage missing)
    : PeriodicWorker(TimeSpan.FromDays(1), atStart: true, time, logger, missing)
{
    protected override string What => "Deleting expired sessions";

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => retention.DeleteExpiredAsync(cancellationToken);
}
