using FunctionsRelay.Cli;
using FunctionsRelay.Infrastructure.HubSpot;

namespace FunctionsRelay.IntegrationTests;

/// <summary><c>relay rederive</c>: after a deliberately changed session rule, exactly the missing events are sent, once.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class RederiveCommandTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 7373;

    [Fact]
    public async Task A_changed_quartile_rule_sends_exactly_the_missing_quartiles_and_nothing_twice()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        // Watches 5 s, skips to 35 s and watches to the end of the 40 s media: a quarter consumed, the playhead at the end.
        var session = new SessionBeacons(Portal, "skipped-ahead")
            .Add("start", 0, null).Add("play", 0.5, 0).Add("heartbeat", 5.5, 5).Add("seek", 6, 35, from: 5)
            .Add("ended", 11, 40).Add("end", 12, 40);
        await host.Client.PostAsync("/api/beacons", session.Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Any(e => e.Key == "attention-span"), "the session's events reach HubSpot");
        Assert.Equal(["attention-span", "played", "quartile-0", "quartile-25"], HubSpot.EventsOf(session.SessionId).Select(e => e.Key).Order());

        // The rule is changed (quartiles by the playhead), and the command runs with it on the relay's storage.
        var settings = new Dictionary<string, string?>(host.Settings) { ["Sessions:QuartileRule"] = "Playhead" };
        await using var changed = await IsolatedRelay.StartServicesAsync(settings);
        async Task<string> RunAsync(params string[] args)
        {
            var (exit, output) = await Cli.RunAsync(changed, args);
            Assert.Equal(RelayCli.Done, exit);
            return output;
        }

        var audit = await RunAsync("rederive", "--portal", $"{Portal}");
        await Task.Delay(500);
        Assert.Contains($"session {Portal}/skipped-ahead: missing [quartile-50, quartile-75, quartile-100]; sent but no longer due []", audit, StringComparison.Ordinal);
        Assert.Contains("1 closed session(s) compared: 3 event(s) missing (--apply sends them), 0 sent but no longer due", audit, StringComparison.Ordinal);
        Assert.Equal(4, HubSpot.EventsOf(session.SessionId).Count);

        var applied = await RunAsync("rederive", "--portal", $"{Portal}", "--apply");
        var again = await RunAsync("rederive", "--portal", $"{Portal}", "--apply");

        Assert.Contains("3 sent now", applied, StringComparison.Ordinal);
        Assert.Contains("0 event(s) missing, 0 sent now", again, StringComparison.Ordinal);
        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Count == 7, "the missing quartiles reach HubSpot");
        await Task.Delay(1000);
        Assert.Equal(
            ["attention-span", "played", "quartile-0", "quartile-100", "quartile-25", "quartile-50", "quartile-75"],
            HubSpot.EventsOf(session.SessionId).Select(e => e.Key).Order());
    }
}
