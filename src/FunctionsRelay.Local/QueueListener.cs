using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Processing;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Local;

/// <summary>How the local queue listener polls: the Functions queue trigger's settings of host.json.</summary>
public sealed class QueueListenerOptions
{
    public const string SectionName = "Queue";

    public int BatchSize { get; set; } = 16;

    public int NewBatchThreshold { get; set; } = 8;

    public TimeSpan MaxPollingInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a message stays hidden after a failed attempt, before it is tried again.</summary>
    public TimeSpan VisibilityTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a message being handled stays hidden from other listeners; renewed every half of it while it is handled.
    /// Short, so that a message whose receive answer was lost (and so is handled by nobody) comes back soon.
    /// </summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The Functions queue trigger's semantics on the local host, for the beacon queue and the scheduled queue as the Functions
/// app's two queue triggers: polls with backoff up to the maximum interval, runs up to batch size + new-batch threshold
/// messages of each queue at once, keeps a message hidden while it is handled (renewing its lease), retries a failed
/// message after the visibility timeout, and after <c>Relay__MaxDequeueCount</c> failed dequeues (5) moves it to that
/// queue's poison queue.
/// </summary>
internal sealed class QueueListener(
    BeaconQueue queue,
    SessionProcessor processor,
    IOptions<QueueListenerOptions> options,
    IOptions<RelayOptions> relay,
    ILogger<QueueListener> logger) : BackgroundService
{
    private static readonly TimeSpan MinPollingInterval = TimeSpan.FromMilliseconds(100);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ListenAsync(queue.Queue, queue.PoisonQueue, stoppingToken), ListenAsync(queue.Scheduled, queue.ScheduledPoison, stoppingToken));

    private async Task ListenAsync(QueueClient source, QueueClient poison, CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var slots = new SemaphoreSlim(settings.BatchSize + settings.NewBatchThreshold);
        var pollingInterval = MinPollingInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var free = Math.Min(settings.BatchSize, slots.CurrentCount);
                if (free == 0)
                {
                    await slots.WaitAsync(stoppingToken);
                    slots.Release();
                    continue;
                }

                QueueMessage[] messages = await source.ReceiveMessagesAsync(free, settings.LeaseTime, stoppingToken);
                if (messages.Length == 0)
                {
                    await Task.Delay(pollingInterval, stoppingToken);
                    pollingInterval = TimeSpan.FromTicks(Math.Min(pollingInterval.Ticks * 2, settings.MaxPollingInterval.Ticks));
                    continue;
                }

                pollingInterval = MinPollingInterval;
                foreach (var message in messages)
                {
                    await slots.WaitAsync(stoppingToken);
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            await HandleAsync(source, poison, message, stoppingToken);
                        }
                        finally
                        {
                            slots.Release();
                        }
                    }, CancellationToken.None);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Polling queue {Queue} failed; trying again", source.Name);
                await Task.Delay(settings.MaxPollingInterval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private async Task HandleAsync(QueueClient source, QueueClient poison, QueueMessage message, CancellationToken stoppingToken)
    {
        var lease = new Lease(message.PopReceipt);
        try
        {
            using var handling = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var renewing = RenewAsync(source, message.MessageId, lease, handling.Token);
            try
            {
                await processor.HandleAsync(message.Body, stoppingToken);
            }
            finally
            {
                await handling.CancelAsync();
                await renewing;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Left on the queue: it becomes visible again when its lease runs out.
            return;
        }
        catch (Exception ex)
        {
            await HandBackAsync(source, poison, message, lease, ex);
            return;
        }

        try
        {
            await source.DeleteMessageAsync(message.MessageId, lease.PopReceipt, CancellationToken.None);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // A delete whose answer was lost and that the SDK sent again: the message is gone, as it should be.
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException)
        {
            logger.LogWarning(
                ex,
                "Message {MessageId} was handled but could not be deleted; it comes back after its lease and is handled again, which changes nothing",
                message.MessageId);
        }
    }

    /// <summary>Keeps the message hidden while it is handled: every half lease, for another lease.</summary>
    private async Task RenewAsync(QueueClient source, string messageId, Lease lease, CancellationToken handling)
    {
        var leaseTime = options.Value.LeaseTime;
        try
        {
            while (true)
            {
                await Task.Delay(leaseTime / 2, handling);
                var renewed = await source.UpdateMessageAsync(messageId, lease.PopReceipt, visibilityTimeout: leaseTime, cancellationToken: handling);
                lease.PopReceipt = renewed.Value.PopReceipt;
            }
        }
        catch (OperationCanceledException) when (handling.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException)
        {
            logger.LogWarning(
                ex,
                "Could not extend the lease of message {MessageId}; another listener may handle it too, which changes nothing",
                messageId);
        }
    }

    /// <summary>A failed message is tried again after the visibility timeout, or after its last attempt moved to the poison queue.</summary>
    private async Task HandBackAsync(QueueClient source, QueueClient poison, QueueMessage message, Lease lease, Exception ex)
    {
        try
        {
            if (message.DequeueCount >= relay.Value.MaxDequeueCount)
            {
                logger.LogError(
                    ex,
                    "Message {MessageId} failed {DequeueCount} times; moved to {PoisonQueue}",
                    message.MessageId,
                    message.DequeueCount,
                    poison.Name);
                await poison.SendMessageAsync(message.Body, cancellationToken: CancellationToken.None);
                await source.DeleteMessageAsync(message.MessageId, lease.PopReceipt, CancellationToken.None);
            }
            else
            {
                logger.LogWarning(ex, "Message {MessageId} failed (attempt {DequeueCount}); it will be retried", message.MessageId, message.DequeueCount);
                await source.UpdateMessageAsync(message.MessageId, lease.PopReceipt, visibilityTimeout: options.Value.VisibilityTimeout, cancellationToken: CancellationToken.None);
            }
        }
        catch (Exception inner)
        {
            logger.LogWarning(inner, "Could not hand message {MessageId} back; its lease will run out", message.MessageId);
        }
    }

    /// <summary>The pop receipt of a message's latest lease, which its renewal, delete or hand-back must show.</summary>
    private sealed class Lease(string popReceipt)
    {
        public string PopReceipt { get; set; } = popReceipt;
    }
}
