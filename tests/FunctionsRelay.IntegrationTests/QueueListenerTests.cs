using System.Text;
using Azure.Storage.Queues;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Ingest;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// The local host's queue handling is the Functions host's own queue listener (the WebJobs SDK's Storage Queues extension),
/// configured from host.json: what it does with a message that crashes its process and with messages in hand at shutdown.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class QueueListenerTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 6161;

    [Fact]
    public async Task A_message_that_killed_its_handler_process_five_times_goes_to_poison_without_being_handled_again()
    {
        var settings = IsolatedRelay.Settings(azurite, Path.Combine(Path.GetTempPath(), $"relay-dry-run-{Guid.NewGuid():N}.jsonl"));
        var session = SessionBeacons.Typical(Portal, "crashes-its-handler");
        await using (var relay = await IsolatedRelay.StartServicesAsync(settings))
        {
            var ingest = relay.GetRequiredService<BeaconIngestService>();
            Assert.True((await ingest.IngestAsync(Encoding.UTF8.GetBytes(SessionBeacons.Json(session.Beacons)), CancellationToken.None)).IsValid);
            // Five hosts took the message and died while handling it: no delete, no hand-back, each receive counted.
            var queue = relay.GetRequiredService<BeaconQueue>().Queue;
            for (var attempt = 1; attempt <= 5; attempt++)
            {
                var taken = await queue.ReceiveMessageAsync(TimeSpan.FromSeconds(1));
                Assert.Equal(attempt, taken.Value.DequeueCount);
                await Task.Delay(1100);
            }
        }

        using var host = new RelayHost(azurite, HubSpot, settings);
        var store = host.Service<PoisonedMessageStore>();
        await host.EventuallyAsync(
            () => store.ListAsync(Portal, null, CancellationToken.None).GetAwaiter().GetResult().Count == 1, "the message reaches the poison queue and is kept");

        var poisoned = Assert.Single(await store.ListAsync(Portal, null, CancellationToken.None));
        Assert.Equal(("crashes-its-handler", 10, RelayMessageKind.Beacons), (poisoned.SessionId, poisoned.Beacons, poisoned.Kind));
        Assert.Contains(host.Logs, line => line.Contains($"portal {Portal}, session crashes-its-handler, 10 beacons (Beacons)", StringComparison.Ordinal));
        Assert.Empty(HubSpot.Received);
        Assert.DoesNotContain(host.Logs, line => line.Contains("Executing 'ProcessBeacons'", StringComparison.Ordinal));
        Assert.Null((await host.Service<BeaconQueue>().Queue.PeekMessageAsync()).Value);
    }

    [Fact]
    public async Task Stopping_the_host_waits_for_the_message_being_handled_and_hands_it_back()
    {
        var host = new RelayHost(azurite, HubSpot);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var queue = host.Service<BeaconQueue>().Queue;
        var session = SessionBeacons.Typical(Portal, "handled-at-shutdown");
        using var inFlight = new ManualResetEventSlim();
        using var answer = new ManualResetEventSlim();
        // HubSpot holds its answer to the played event until the host has been stopping for a while: the host cancels the
        // handler's token, the handler gives up its HubSpot call, and the listener hands the message back.
        HubSpot.OnAccepted = received =>
        {
            if (received.Key == "played")
            {
                inFlight.Set();
                answer.Wait(TimeSpan.FromSeconds(20));
            }
        };

        await host.Client.PostAsync("/api/beacons", session.Content());
        Assert.True(inFlight.Wait(TimeSpan.FromSeconds(30)), "the played event reaches HubSpot");
        var stopping = host.Service<IHost>().StopAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        answer.Set();
        await stopping;

        var logsAtStop = host.Logs.ToArray();
        await Task.Delay(1500);
        Assert.Contains(logsAtStop, line => line.Contains("Executed 'ProcessBeacons' (Failed", StringComparison.Ordinal));
        Assert.Equal(logsAtStop.Length, host.Logs.Count);
        // Handed back, not left hidden until its lease runs out: the next host takes it at once.
        var message = (await queue.PeekMessageAsync()).Value;
        Assert.NotNull(message);
        Assert.Equal(1, message.DequeueCount);
        host.Dispose();
    }
}
