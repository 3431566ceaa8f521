using System.Text;
using FunctionsRelay.Cli;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary><c>relay poison</c>: the messages the relay gave up on, listed, and put back on their queue once after a fix.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class PoisonCommandTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 7171;

    [Fact]
    public async Task A_poisoned_message_is_listed_then_put_back_once_and_its_events_reach_HubSpot()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var session = SessionBeacons.Typical(Portal, "poisoned-then-fixed");
        var beacons = new BeaconParser(new BeaconLimits()).Parse(Encoding.UTF8.GetBytes(SessionBeacons.Json(session.Beacons)), DateTimeOffset.UtcNow).Beacons;
        // The listener gave up on the session's message (a bug, since fixed): it is on the poison queue.
        var queue = host.Service<BeaconQueue>();
        await queue.PoisonQueue.SendMessageAsync(new BinaryData(new RelayMessage(RelayMessageKind.Beacons, Portal, session.SessionId, beacons).ToUtf8Json()));
        var store = host.Service<PoisonedMessageStore>();
        await host.EventuallyAsync(() => store.ListAsync(Portal, null, CancellationToken.None).GetAwaiter().GetResult().Count == 1, "the poisoned message is kept");

        var listed = await Cli.RunAsync(host.Services, "poison", "--portal", Portal.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Task.Delay(1000);
        Assert.Equal(RelayCli.Done, listed.Exit);
        Assert.Contains($"would put back", listed.Output, StringComparison.Ordinal);
        Assert.Contains($"on {queue.Queue.Name}: portal {Portal}, session poisoned-then-fixed, 10 beacons (Beacons)", listed.Output, StringComparison.Ordinal);
        Assert.Empty(HubSpot.EventsOf(session.SessionId));

        var applied = await Cli.RunAsync(host.Services, "poison", "--session", session.SessionId, "--apply");
        var again = await Cli.RunAsync(host.Services, "poison", "--apply");

        Assert.Contains("put back", applied.Output, StringComparison.Ordinal);
        Assert.True(again.Output.Contains("0 poisoned message(s)", StringComparison.Ordinal), applied.Output + "\n---\n" + again.Output);
        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Any(e => e.Key == "attention-span"), "the session's events reach HubSpot");
        Assert.Equal(session.ExpectedEvents(), HubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
    }

    [Fact]
    public async Task A_wrong_option_is_refused_with_usage()
    {
        using var host = new RelayHost(azurite, HubSpot);

        var (exit, output) = await Cli.RunAsync(host.Services, "poison", "--portal", "abc");

        Assert.Equal(RelayCli.Usage, exit);
        Assert.Contains("--portal must be a positive integer", output, StringComparison.Ordinal);
    }
}
