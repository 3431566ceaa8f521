using Azure.Data.Tables;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// A portal offered several times its HubSpot budget at once: its pending events go out by value (played first, then
/// attention spans, then quartiles), and with Relay__CoalesceQuartilesAfter each session sends one quartile.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class OverloadTests(Azurite azurite) : WithFakeHubSpot
{
    private const int Sessions = 16;

    [Fact]
    public async Task A_portal_over_its_budget_delivers_every_played_event_before_the_quartiles_waiting_beside_them()
    {
        const long portal = 6363;
        var (relay, sessions) = await OfferAsync(portal, coalesceAfter: null);
        using var _ = relay;

        // While the backlog lasts, the sessions waiting for the budget wait in the schedule table, not on the queue the
        // scale controller counts: more instances would not make the budget larger.
        var waitingInTable = 0;
        var schedule = relay.Service<ScheduledCheckTable>().Table;
        await relay.EventuallyAsync(() =>
        {
            // A retry (attempt 1 on), not the check every lease leaves for its end.
            var deliveries = schedule.Query<TableEntity>().Count(row => RelayMessage.Parse(BinaryData.FromString(row.GetString("Message"))) is { Kind: RelayMessageKind.Deliver, Attempt: > 0 });
            waitingInTable = Math.Max(waitingInTable, deliveries);
            return sessions.All(s => HubSpot.EventsOf(s.SessionId).Count == s.ExpectedEvents().Count);
        }, "every event reaches HubSpot", seconds: 120);
        Assert.True(waitingInTable >= Sessions / 4, $"at most {waitingInTable} sessions' delivery retries waited in the schedule table at once");
        var keys = HubSpot.Received.Where(e => e.PortalId == portal).Select(e => e.Key).ToList();
        var lastPlayed = keys.LastIndexOf("played");
        var quartilesBeforeIt = keys.Take(lastPlayed).Count(key => key.StartsWith("quartile-", StringComparison.Ordinal));
        // 16 sessions x 7 events against 6 calls a second: a first-come order sends most quartiles of the first sessions
        // before the played events of the last. A quartile may slip in only where no played event was asking.
        Assert.True(quartilesBeforeIt <= 2, $"{quartilesBeforeIt} quartiles went out before the last played event: {string.Join(",", keys)}");
        foreach (var session in sessions)
            Assert.Equal(session.ExpectedEvents().Order(), HubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).Order());
        Assert.Equal(0, HubSpot.RateLimitedCalls(portal));
    }

    [Fact]
    public async Task With_coalescing_a_portal_over_its_budget_sends_one_quartile_per_session_the_highest_reached()
    {
        const long portal = 6364;
        var (relay, sessions) = await OfferAsync(portal, coalesceAfter: TimeSpan.FromMilliseconds(1));
        using var _ = relay;

        await relay.EventuallyAsync(() => sessions.All(s => HubSpot.EventsOf(s.SessionId).Any(e => e.Key == "attention-span")), "every attention span reaches HubSpot", seconds: 120);
        await Task.Delay(TimeSpan.FromSeconds(3));
        foreach (var session in sessions)
        {
            var expected = session.ExpectedEvents();
            var received = HubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList();
            Assert.Equal(["attention-span", "played", "quartile-100"], received.Select(e => e.Key).Order());
            Assert.All(received, e => Assert.Contains(e, expected));
        }
    }

    private async Task<(RelayHost Relay, List<SessionBeacons> Sessions)> OfferAsync(long portal, TimeSpan? coalesceAfter)
    {
        HubSpot.RequestsPerTenSecondsPerAccount = 66;
        var settings = new Dictionary<string, string?>
        {
            ["HubSpot:RequestsPerTenSeconds"] = "60",
            ["HubSpot:MaxInlineRetryAfter"] = "00:00:05",
            ["Relay:HoldAnonymousFor"] = "00:00:00",
            ["Relay:CoalesceQuartilesAfter"] = (coalesceAfter ?? TimeSpan.Zero).ToString("c"),
        };
        var relay = new RelayHost(azurite, HubSpot, settings);
        await HubSpot.ConnectPortalAsync(relay.Service<FunctionsRelay.Infrastructure.HubSpot.PortalTokenStore>(), portal, TimeSpan.FromMinutes(30));
        var media = HubSpot.ProviderMadeVideo(portal, 79_001, "Overload");
        var sessions = Enumerable.Range(1, Sessions).Select(i => SessionBeacons.Typical(portal, $"overload-{portal}-{i}", media: media)).ToList();
        await Task.WhenAll(sessions.Select(session => relay.Client.PostAsync("/api/beacons", session.Content())));
        return (relay, sessions);
    }
}
