using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Processing;

/// <summary>
/// Handles the messages of the two poison queues (the queue listener moved them there after <c>maxDequeueCount</c>
/// failed attempts): logs for the operator which portal, session and how many beacons each held, counts it
/// (<c>relay.messages.poisoned</c>, which the deployment alerts on), and keeps it for <c>relay poison --apply</c>.
/// </summary>
public sealed class PoisonHandler(PoisonedMessageStore store, RelayMetrics metrics, IOptions<RelayOptions> options, ILogger<PoisonHandler> logger)
{
    /// <summary>A message of the beacon queue's poison queue.</summary>
    public Task HandleBeaconAsync(string messageId, BinaryData body, CancellationToken cancellationToken) =>
        KeepAsync(options.Value.BeaconQueue, messageId, body, cancellationToken);

    /// <summary>A message of the scheduled queue's poison queue.</summary>
    public Task HandleScheduledAsync(string messageId, BinaryData body, CancellationToken cancellationToken) =>
        KeepAsync(options.Value.ScheduleQueue, messageId, body, cancellationToken);

    private async Task KeepAsync(string queue, string messageId, BinaryData body, CancellationToken cancellationToken)
    {
        var kept = await store.KeepAsync(queue, messageId, body, cancellationToken);
        RelayLog.MessagePoisoned(logger, messageId, queue, kept.PortalId?.ToString() ?? "unknown", kept.SessionId ?? "unknown", kept.Beacons, kept.Kind?.ToString() ?? "unreadable");
        metrics.MessagePoisoned(kept.PortalId);
    }
}
