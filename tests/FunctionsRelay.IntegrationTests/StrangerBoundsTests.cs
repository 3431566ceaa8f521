using System.Net;
using FunctionsRelay.Cli;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// What a stranger holding a page's publishable key (or a leaked secret key) can make the relay spend of a portal's
/// HubSpot budget and storage, and the bounds that stop each trick: on Azurite, against the stand-in HubSpot.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class StrangerBoundsTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 9191;

    private async Task<RelayHost> StartAsync(Dictionary<string, string?> settings)
    {
        // Every check on the queue, so that waits of a few seconds come back without the table's sweep.
        settings["Relay:ScheduledCheckTableAfter"] = "00:00:00";
        settings.TryAdd("Relay:AnonymousCheckInterval", "00:00:01");
        var host = new RelayHost(azurite, HubSpot, settings);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        return host;
    }

    private static async Task<HttpStatusCode> PostAsync(RelayHost host, SessionBeacons session, string? address = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/beacons") { Content = session.Content() };
        if (address is not null)
            request.Headers.Add("X-Forwarded-For", address);
        return (await host.Client.SendAsync(request)).StatusCode;
    }

    private static ViewingSession? Stored(RelayHost host, string sessionId) =>
        host.Service<SessionRepository>().GetAsync(Portal, sessionId, CancellationToken.None).GetAwaiter().GetResult()?.Session;

    [Fact]
    public async Task A_known_utk_replayed_for_made_up_sessions_gets_a_viewers_hour_of_sessions_and_no_more()
    {
        using var host = await StartAsync(new() { ["Relay:MaxSessionsPerViewerPerHour"] = "3", ["Relay:ViewerSessionsFirstPerHour"] = "1" });
        // A visitor who once filled in a form: its utk is a contact, and a stranger replays it.
        var contact = """{"utk":"utk-of-a-real-contact"}""";
        var sessions = Enumerable.Range(1, 5).Select(i => SessionBeacons.Typical(Portal, $"replayed-{i}", contact: contact)).ToList();

        foreach (var session in sessions)
        {
            Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, session));
            await host.EventuallyAsync(() => Stored(host, session.SessionId) is { IsClosed: true, Outbox.Count: 0 }, $"{session.SessionId} sent or refused");
        }

        Assert.All(sessions.Take(3), s => Assert.Equal(7, HubSpot.EventsOf(s.SessionId).Count));
        // Its first session of the hour went at its events' own rank, the next two only on budget nobody else wanted.
        Assert.Equal([false, true, true], sessions.Take(3).Select(s => Stored(host, s.SessionId)!.RepeatViewer));
        Assert.All(sessions.Skip(3), s => Assert.Empty(HubSpot.EventsOf(s.SessionId)));
        Assert.All(sessions.Skip(3), s => Assert.Equal(SessionRefusal.ViewerBound, Stored(host, s.SessionId)!.Refused));
        Assert.Single(host.Logs, line => line.Contains("has begun 3 sessions this hour (Relay__MaxSessionsPerViewerPerHour)", StringComparison.Ordinal));
        Assert.DoesNotContain(host.Logs, line => line.Contains("utk-of-a-real-contact", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_address_that_brings_many_unknown_viewers_is_looked_up_last_and_not_held_while_others_are()
    {
        using var host = await StartAsync(new() { ["Relay:MaxUnknownViewersPerSourcePerHour"] = "2", ["Relay:HoldAnonymousFor"] = "1.00:00:00" });
        const string Stranger = "198.51.100.7";
        var made = Enumerable.Range(1, 4).Select(i => SessionBeacons.Typical(Portal, $"made-up-{i}")).ToList();
        foreach (var session in made)
        {
            HubSpot.AnonymousUtks["utk-" + session.SessionId] = true;
            Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, session, Stranger));
            await host.EventuallyAsync(
                () => Stored(host, session.SessionId) is { IsClosed: true } s && (s.AnonymousHeldSince > 0 || s.Refused != SessionRefusal.None),
                $"{session.SessionId} held or refused");
        }

        // A real visitor who is no contact yet, from another address, and a real contact from the stranger's own.
        var visitor = SessionBeacons.Typical(Portal, "real-visitor");
        HubSpot.AnonymousUtks["utk-real-visitor"] = true;
        var neighbour = SessionBeacons.Typical(Portal, "real-neighbour");
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, visitor, "203.0.113.9"));
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, neighbour, Stranger));
        await host.EventuallyAsync(() => Stored(host, "real-visitor") is { AnonymousHeldSince: > 0 }, "the real visitor held");
        await host.EventuallyAsync(() => HubSpot.EventsOf("real-neighbour").Count == 7, "the contact behind the stranger's address sent, looked up last");

        // The first two were held; once the address had brought too many, they went at their next check, as the rest at once.
        await host.EventuallyAsync(() => made.All(s => Stored(host, s.SessionId) is { Refused: SessionRefusal.SourceBound, Outbox.Count: 0 }), "every made-up session dropped");
        Assert.Equal([true, true, false, false], made.Select(s => Stored(host, s.SessionId)!.AnonymousHeldSince > 0));
        Assert.True(Stored(host, "real-visitor") is { Refused: SessionRefusal.None, AnonymousHeldSince: > 0, Outbox.Count: 7 });
        Assert.Single(host.Logs, line => line.Contains("a client address has brought 2 viewers who are no HubSpot contact this hour", StringComparison.Ordinal));
        // The address is kept only as its keyed hash, in the quota rows that count it.
        var rows = host.Service<QuotaStore>().Table.Query<Azure.Data.Tables.TableEntity>().Select(row => row.RowKey).ToList();
        Assert.Contains(rows, key => key.StartsWith("unknown-", StringComparison.Ordinal));
        Assert.DoesNotContain(rows, key => key.Contains(Stranger, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_address_that_brought_a_tenth_of_its_bound_of_unknown_viewers_has_its_new_viewers_looked_up_below_played_events()
    {
        using var host = await StartAsync(new()
        {
            ["Relay:MaxUnknownViewersPerSourcePerHour"] = "20",
            ["Relay:HoldAnonymousFor"] = "1.00:00:00",
            // Held viewers not asked about again during the test: every look-up in the pacer's log is a new viewer's.
            ["Relay:AnonymousCheckInterval"] = "01:00:00",
            ["Logging:LogLevel:FunctionsRelay.Infrastructure.HubSpot.HubSpotPacer"] = "Debug",
        });
        const string Busy = "198.51.100.8";
        foreach (var session in Enumerable.Range(1, 2).Select(i => SessionBeacons.Typical(Portal, $"unknown-{i}")))
        {
            HubSpot.AnonymousUtks["utk-" + session.SessionId] = true;
            Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, session, Busy));
            await host.EventuallyAsync(() => Stored(host, session.SessionId) is { AnonymousHeldSince: > 0 }, $"{session.SessionId} held");
        }

        // Past the 5 s an instance takes an address's standing as read: two of a bound of 20 is a tenth.
        await Task.Delay(TimeSpan.FromSeconds(6));
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, SessionBeacons.Typical(Portal, "after-the-burst"), Busy));
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, SessionBeacons.Typical(Portal, "elsewhere"), "203.0.113.10"));
        await host.EventuallyAsync(() => HubSpot.EventsOf("after-the-burst").Count == 7 && HubSpot.EventsOf("elsewhere").Count == 7, "both contacts' sessions sent");

        // Each new viewer's look-up, as the pacer ranked it (the media's listing is a plain look-up too): the first two of
        // the busy address and the one of another address with their played events, the third of the busy address not. A
        // contact is sent all the same, only later when the portal's budget is short.
        Assert.Equal(3, host.Logs.Count(line => line.Contains($"Pacer: portal {Portal} PlayedLookUp budget taken", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_session_whose_media_object_may_not_be_made_waits_to_its_limit_without_a_hubspot_call_then_is_dropped()
    {
        using var host = await StartAsync(new() { ["Relay:NewMediaPerPortalPerHour"] = "1", ["Relay:MediaObjectWaitLimit"] = "00:00:03" });
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, SessionBeacons.Typical(Portal, "first-media", media: NewMedia("made-1"))));
        await host.EventuallyAsync(() => HubSpot.EventsOf("first-media").Count == 7, "the first new media's object made and its session sent");
        var objectCalls = HubSpot.ObjectRequests;

        Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, SessionBeacons.Typical(Portal, "past-the-bound", media: NewMedia("made-2"))));

        await host.EventuallyAsync(() => Stored(host, "past-the-bound") is { Refused: SessionRefusal.MediaBound, Outbox.Count: 0 }, "the waiting session dropped at its limit", seconds: 20);
        Assert.Empty(HubSpot.EventsOf("past-the-bound"));
        Assert.Equal(objectCalls, HubSpot.ObjectRequests);
        Assert.Single(host.Logs, line => line.Contains("Session 9191/past-the-bound: its media object could not be made within 00:00:03", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_portal_that_chose_its_catalog_alone_makes_no_media_object_from_beacons_and_its_catalog_still_does()
    {
        using var host = await StartAsync([]);
        var (exit, output) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--media-from-catalog-only");
        Assert.Equal(RelayCli.Done, exit);
        Assert.Contains("media objects: from its catalog only (relay media)", output, StringComparison.Ordinal);
        var objectCalls = HubSpot.ObjectRequests;

        Assert.Equal(HttpStatusCode.Accepted, await PostAsync(host, SessionBeacons.Typical(Portal, "future-id", media: NewMedia("video-125"))));

        await host.EventuallyAsync(() => Stored(host, "future-id") is { MediaAwaitedSince: > 0 }, "the session waits for its media's object");
        Assert.Equal(objectCalls, HubSpot.ObjectRequests);
        Assert.DoesNotContain(HubSpot.Objects.Values, o => o.PortalId == Portal);
        var catalog = Path.GetTempFileName();
        await File.WriteAllTextAsync(catalog, """[{"externalId":"video-125","title":"The real title","oembedUrl":"https://video.example.com/o?id=125"}]""");
        Assert.Equal(RelayCli.Done, (await Cli.RunAsync(host.Services, "media", "--portal", $"{Portal}", "--file", catalog, "--apply")).Exit);
        Assert.Equal("The real title", Assert.Single(HubSpot.Objects.Values, o => o.PortalId == Portal).Title);
        Assert.Contains("media objects: from its catalog, and from beacons", (await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--media-from-beacons")).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Contacts_created_for_unknown_emails_are_bounded_per_portal_and_day()
    {
        using var host = await StartAsync(new() { ["Relay:MaxContactsCreatedPerPortalPerDay"] = "1", ["Relay:HoldAnonymousFor"] = "1.00:00:00" });
        var (exit, output) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--new-secret-key", "--create-contacts");
        Assert.Equal(RelayCli.Done, exit);
        var key = output.Split('\n').Single(line => line.StartsWith("new secret source key", StringComparison.Ordinal)).Split(": ")[^1].Trim();
        var start = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds();

        foreach (var (session, email) in new[] { ("created-1", "first.new@example.com"), ("created-2", "second.new@example.com") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/" + BeaconEndpoint.MParticleRoute)
            {
                Content = new StringContent(MParticleBatches.Json(MParticleBatches.RokuSession(session, start, email: email)), System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new("Bearer", key);
            Assert.Equal(HttpStatusCode.Accepted, (await host.RawClient.SendAsync(request)).StatusCode);
            await host.EventuallyAsync(() => Stored(host, session) is { IsClosed: true } s && (s.Outbox.Count == 0 || s.AnonymousHeldSince > 0), $"{session} sent or held");
        }

        Assert.Equal(1, HubSpot.ContactsCreated);
        Assert.NotEmpty(HubSpot.EventsOf("created-1"));
        Assert.True(Stored(host, "created-2")!.AnonymousHeldSince > 0);
        Assert.Single(host.Logs, line => line.Contains("has had 1 contacts created today for emails HubSpot did not know (Relay__MaxContactsCreatedPerPortalPerDay)", StringComparison.Ordinal));
        Assert.DoesNotContain(host.Logs, line => line.Contains("second.new@example.com", StringComparison.Ordinal));
    }

    private static string NewMedia(string externalId) =>
        $$"""{"externalId":"{{externalId}}","name":"New media","url":"https://cdn.example.com/{{externalId}}.mp4","type":"VIDEO"}""";
}
