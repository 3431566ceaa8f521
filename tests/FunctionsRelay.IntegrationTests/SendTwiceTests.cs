using System.Net;
using FunctionsRelay.Infrastructure.HubSpot;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// When the relay may send an event (or make a media object) twice, and when it may not: HubSpot that keeps a request and
/// then answers 500 or too late is met by the outbox's one retry per answer, never by a second retry below it; and a send
/// never outlives the delivery lease it was started under, so a second worker never sends what the first is still sending.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class SendTwiceTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 5252;

    private async Task<RelayHost> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var host = new RelayHost(azurite, HubSpot, settings);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        return host;
    }

    private static int Paused(RelayHost host) => host.Logs.Count(line => line.Contains("Delivery of session", StringComparison.Ordinal) && line.Contains("paused", StringComparison.Ordinal));

    [Fact]
    public async Task An_event_HubSpot_kept_but_answered_500_is_sent_again_once_by_the_outbox_and_by_nothing_else()
    {
        using var host = await StartAsync();
        // The media object made first, by an earlier session: the 500 meets the event, not the object's creation.
        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "made-before").Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf("made-before").Any(e => e.Key == "attention-span"), "the earlier session is delivered");
        var session = SessionBeacons.Typical(Portal, "kept-then-500");
        HubSpot.StoreThenFail(1);

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Any(e => e.Key == "attention-span"), "the session is delivered");
        var played = HubSpot.EventsOf(session.SessionId).Count(e => e.Key == "played");
        // The copy HubSpot kept before its 500, and the outbox's retry after the pause the 500 caused: two, and each is a pause logged.
        Assert.Equal(2, played);
        Assert.Equal(1, Paused(host));
        Assert.Equal(session.ExpectedEvents().Count + 1, HubSpot.EventsOf(session.SessionId).Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_media_object_HubSpot_made_but_answered_500_or_too_late_for_is_found_again_not_made_twice(bool late)
    {
        using var host = await StartAsync(new() { ["HubSpot:RequestTimeout"] = "00:00:01" });
        HubSpot.StoreThenFail(1, late ? TimeSpan.FromSeconds(3) : null);

        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, late ? "made-late" : "made-then-500",
            media: """{"externalId":"film-twice","name":"Twice","url":"https://cdn.example.com/twice.mp4","type":"VIDEO"}""").Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf(late ? "made-late" : "made-then-500").Any(e => e.Key == "attention-span"), "the session is delivered");
        var media = Assert.Single(HubSpot.Objects.Values);
        Assert.All(HubSpot.Received, e => Assert.Equal(media.Id, e.Json.GetProperty("mediaBridgeId").GetInt64()));
    }

    [Fact]
    public async Task A_send_that_would_wait_past_its_lease_hands_back_instead_of_racing_the_next_worker()
    {
        // One request per 10 s for the portal, waited out inline for up to 20 s, under a lease of 6 s: today's send would
        // wait 10 s in the pacer while its lease runs out and the next worker starts on the same event.
        using var host = await StartAsync(new()
        {
            ["HubSpot:RequestsPerTenSeconds"] = "1",
            ["HubSpot:MaxInlineRetryAfter"] = "00:00:20",
            ["HubSpot:RequestTimeout"] = "00:00:01",
            ["Relay:DeliveryLease"] = "00:00:06",
            ["Relay:HoldAnonymousFor"] = "00:00:00",
        });
        // A media the provider made in HubSpot itself: every call of the session is one of its events.
        var session = SessionBeacons.Typical(Portal, "slow-pace", media: HubSpot.ProviderMadeVideo(Portal, 77_001, "Paced"));

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Count >= 3, "three events have gone at one per 10 s", seconds: 45);
        await Task.Delay(TimeSpan.FromSeconds(4));
        var sent = HubSpot.EventsOf(session.SessionId).Select(e => e.Key).ToList();
        Assert.Equal(sent.Distinct().Count(), sent.Count);
        Assert.Equal(session.ExpectedEvents().Select(e => e.Key).Take(sent.Count), sent);
    }
}
