using Azure.Storage.Queues.Models;
using FunctionsRelay.Infrastructure.Processing;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Azure.WebJobs;

namespace FunctionsRelay.Local;

/// <summary>
/// The Functions app's two queue triggers, run by the queue listener the Functions host itself loads (the WebJobs SDK's
/// Storage Queues extension, configured from host.json): the same bindings, the same poison handling, the same processor.
/// </summary>
public sealed class QueueTriggers(SessionProcessor processor, PoisonHandler poison)
{
    [FunctionName("ProcessBeacons")]
    public Task ProcessBeacons(
        [QueueTrigger("%Relay:BeaconQueue%", Connection = StorageClients.ConnectionName)] QueueMessage message,
        CancellationToken cancellationToken) => processor.HandleAsync(message.Body, cancellationToken);

    [FunctionName("ProcessScheduled")]
    public Task ProcessScheduled(
        [QueueTrigger("%Relay:ScheduleQueue%", Connection = StorageClients.ConnectionName)] QueueMessage message,
        CancellationToken cancellationToken) => processor.HandleAsync(message.Body, cancellationToken);

    [FunctionName("KeepPoisonedBeacons")]
    public Task KeepPoisonedBeacons(
        [QueueTrigger("%Relay:BeaconQueue%-poison", Connection = StorageClients.ConnectionName)] QueueMessage message,
        CancellationToken cancellationToken) => poison.HandleBeaconAsync(message.MessageId, message.Body, cancellationToken);

    [FunctionName("KeepPoisonedScheduled")]
    public Task KeepPoisonedScheduled(
        [QueueTrigger("%Relay:ScheduleQueue%-poison", Connection = StorageClients.ConnectionName)] QueueMessage message,
        CancellationToken cancellationToken) => poison.HandleScheduledAsync(message.MessageId, message.Body, cancellationToken);
}
