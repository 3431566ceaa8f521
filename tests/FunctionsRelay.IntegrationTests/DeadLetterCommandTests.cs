using FunctionsRelay.Cli;
using FunctionsRelay.Infrastructure.HubSpot;

namespace FunctionsRelay.IntegrationTests;

/// <summary><c>relay deadletters</c>: refused events listed, then sent again once through the normal outbox after the cause is fixed.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class DeadLetterCommandTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 7272;

    [Fact]
    public async Task A_refused_event_is_listed_then_sent_once_through_the_outbox_and_not_again()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var session = SessionBeacons.Typical(Portal, "refused-once");
        // HubSpot refuses the first event (a cause since fixed); the rest go.
        HubSpot.AnswerNextEvents(400, 1);
        await host.Client.PostAsync("/api/beacons", session.Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Any(e => e.Key == "attention-span"), "the events behind the refused one go");
        Assert.DoesNotContain(HubSpot.EventsOf(session.SessionId), e => e.Key == "played");

        var listed = await Cli.RunAsync(host.Services, "deadletters", "--portal", $"{Portal}", "--status", "400");
        var otherStatus = await Cli.RunAsync(host.Services, "deadletters", "--status", "429");
        await Task.Delay(500);
        Assert.Equal(RelayCli.Done, listed.Exit);
        Assert.Contains($"would put back played of session {Portal}/refused-once, refused ", listed.Output, StringComparison.Ordinal);
        Assert.Contains("0 dead letter(s)", otherStatus.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(HubSpot.EventsOf(session.SessionId), e => e.Key == "played");

        // The operator's overview shows the portal with its closed session and its one dead letter.
        var status = await Cli.RunAsync(host.Services, "status", "--portal", $"{Portal}");
        Assert.Matches($"(?m)^{Portal} +0 +1 +0 +0\\.0 min +1 +0  connected \\(expires ", status.Output);
        Assert.Contains("1 portal(s)", status.Output, StringComparison.Ordinal);

        var applied = await Cli.RunAsync(host.Services, "deadletters", "--session", session.SessionId, "--apply");
        var again = await Cli.RunAsync(host.Services, "deadletters", "--apply");

        Assert.Equal(RelayCli.Done, applied.Exit);
        Assert.Contains("put back played of session", applied.Output, StringComparison.Ordinal);
        Assert.Contains("0 dead letter(s)", again.Output, StringComparison.Ordinal);
        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Any(e => e.Key == "played"), "the put-back event reaches HubSpot");
        await Task.Delay(1000);
        Assert.Equal(session.ExpectedEvents().Select(e => e.Key).Order(), HubSpot.EventsOf(session.SessionId).Select(e => e.Key).Order());
        Assert.Equal(session.ExpectedEvents().Single(e => e.Key == "played").Payload, Assert.Single(HubSpot.EventsOf(session.SessionId), e => e.Key == "played").ProviderPayload);
    }
}
