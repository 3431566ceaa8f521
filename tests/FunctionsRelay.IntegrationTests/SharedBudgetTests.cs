using FunctionsRelay.Infrastructure.HubSpot;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// Two relays on one storage account send to one stand-in HubSpot whose limit, as HubSpot's, is the account's over every
/// caller: with the shared budget they stay under it together. (That each pacing alone would exceed it is shown at the
/// pacer, in <c>SharedPacerTests</c>: whether two relays reach their pace at once in a run depends on how busy the
/// machine is, so a control run here shows it only some of the time.)
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class SharedBudgetTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 6262;

    [Fact]
    public async Task Two_relays_on_one_portal_share_its_budget_and_stay_under_its_hubspot_limit_together()
    {
        HubSpot.RequestsPerTenSecondsPerAccount = 20;
        // The shared budget alone: each relay also pauses when HubSpot's headers say the account's window is spent.
        HubSpot.SendsRateLimitHeaders = false;
        var settings = new Dictionary<string, string?>
        {
            ["HubSpot:RequestsPerTenSeconds"] = "18",
            ["HubSpot:Budget"] = nameof(BudgetMode.Shared),
            ["HubSpot:MaxInlineRetryAfter"] = "00:00:05",
            ["Relay:HoldAnonymousFor"] = "00:00:00",
            // A few messages at a time, so that both relays take sessions and send at once (one relay taking every
            // message would stay under the limit alone, and the test would show nothing).
            [$"{RelayHost.QueueSettings}:batchSize"] = "2",
            [$"{RelayHost.QueueSettings}:newBatchThreshold"] = "1",
        };
        using var first = new RelayHost(azurite, HubSpot, settings);
        // The second relay: the same queues and tables, as a second instance of one deployment.
        using var second = new RelayHost(azurite, HubSpot, first.Settings.ToDictionary());
        await HubSpot.ConnectPortalAsync(first.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var media = HubSpot.ProviderMadeVideo(Portal, 78_001, "Shared");
        var sessions = Enumerable.Range(1, 10).Select(i => SessionBeacons.Typical(Portal, $"shared-{i}", media: media)).ToList();

        await Task.WhenAll(sessions.Select((session, i) => (i % 2 == 0 ? first : second).Client.PostAsync("/api/beacons", session.Content())));

        await first.EventuallyAsync(
            () => sessions.All(s => HubSpot.EventsOf(s.SessionId).Count == s.ExpectedEvents().Count), "every session's events reach HubSpot", seconds: 120);
        // Each session's events, in any order: behind its budget a session sends its attention span before its quartiles.
        foreach (var session in sessions)
            Assert.Equal(session.ExpectedEvents().Order(), HubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).Order());
        // Both relays sent: the limit was the two's to share.
        Assert.All(new[] { first, second }, relay => Assert.Contains(relay.Logs, line => line.Contains(": Delivered ", StringComparison.Ordinal)));
        Assert.Equal(0, HubSpot.RateLimitedCalls(Portal));
    }
}
