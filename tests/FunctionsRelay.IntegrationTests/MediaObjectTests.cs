using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary>The media objects events attach to, made in the portal by the relay, against the stand-in HubSpot's objects API.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class MediaObjectTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 5150;

    private static string Media(string externalId, string title = "Launch film", string extra = "") =>
        $$"""{"externalId":"{{externalId}}","name":"{{title}}","url":"https://cdn.example.com/{{externalId}}.mp4","type":"VIDEO"{{extra}}}""";

    /// <summary>Makes a media object in the portal as the provider's own integration would; its HubSpot id.</summary>
    private async Task<long> MakeObjectAsync(string body)
    {
        using var client = new HttpClient { BaseAddress = HubSpot.BaseUrl };
        client.DefaultRequestHeaders.Authorization = new("Bearer", HubSpot.IssueTokens(Portal).AccessToken);
        using var made = await client.PostAsync(MediaObjectRoutes.Objects, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var id = JsonDocument.Parse(await made.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        return long.Parse(id, System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<RelayHost> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var host = new RelayHost(azurite, HubSpot, settings);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        return host;
    }

    [Fact]
    public async Task Twenty_concurrent_sessions_of_a_new_media_make_exactly_one_object_and_every_event_names_it()
    {
        using var host = await StartAsync();
        var sessions = Enumerable.Range(1, 20).Select(i => SessionBeacons.Typical(Portal, $"crowd-{i}", media: Media("film-1"))).ToList();

        var answers = await Task.WhenAll(sessions.Select(s => host.Client.PostAsync("/api/beacons", s.Content())));

        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode));
        await host.EventuallyAsync(
            () => sessions.All(s => HubSpot.EventsOf(s.SessionId).Count == s.ExpectedEvents().Count), "every session's events reach HubSpot", seconds: 60);
        var media = Assert.Single(HubSpot.Objects.Values);
        Assert.Equal((Portal, "VIDEO", "film-1", "Launch film"), (media.PortalId, media.MediaType, media.ExternalId, media.Title));
        Assert.Equal("https://relay.test/api/oembed?url=https%3A%2F%2Fcdn.example.com%2Ffilm-1.mp4", media.Fields.GetProperty("oembedUrl").GetString());
        Assert.Equal(40_000, media.Fields.GetProperty("duration").GetInt64());
        foreach (var session in sessions)
        {
            var events = HubSpot.EventsOf(session.SessionId);
            // In any order: 140 calls are over the portal's pace, and then a session's attention span may pass its quartiles.
            Assert.Equal(session.ExpectedEvents().Order(), events.Select(e => (e.Key, e.ProviderPayload)).Order());
            Assert.All(events, e => Assert.Equal(media.Id, e.Json.GetProperty("mediaBridgeId").GetInt64()));
            Assert.All(events, e => Assert.False(e.Json.TryGetProperty("externalId", out _)));
        }

        // The media's row, beside the row saying how far the portal's (empty) listing was read.
        var rows = host.Service<MediaObjectStore>().Table.Query<TableEntity>().ToList();
        Assert.Equal(media.Id, Assert.Single(rows, row => !row.RowKey.StartsWith("listing-", StringComparison.Ordinal)).GetInt64("ObjectId"));
        // And one object made from beacons counted against the portal's bounds for today and for this hour.
        var made = host.Service<QuotaStore>().Table.Query<TableEntity>().Where(row => row.RowKey.StartsWith("media-made-", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, made.Count);
        Assert.All(made, row => Assert.Equal(1, row.GetInt32("Count")));
    }

    [Fact]
    public async Task Beacons_never_change_an_existing_media_object_and_the_integrators_catalog_does_once()
    {
        using var host = await StartAsync();
        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "first-cut", media: Media("film-2")).Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf("first-cut").Any(e => e.Key == "attention-span"), "the first session is delivered");
        var extra = ""","thumbnailUrl":"https://cdn.example.com/film-2.jpg","detailsUrl":"https://video.example.com/film-2" """.TrimEnd();

        // A page (or a stranger with its public key) names the same media with another title and links: it is played, not rewritten.
        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "rewritten", media: Media("film-2", "Buy now at scam.example", extra)).Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf("rewritten").Any(e => e.Key == "attention-span"), "the renamed session is delivered");
        var media = Assert.Single(HubSpot.Objects.Values);
        Assert.Equal("Launch film", media.Title);
        Assert.False(media.Fields.TryGetProperty("thumbnailUrl", out _));
        Assert.Equal(2, HubSpot.ObjectRequests); // one look among the portal's objects, one create: no update
        Assert.All(HubSpot.Received, e => Assert.Equal(media.Id, e.Json.GetProperty("mediaBridgeId").GetInt64()));

        // The integrator's catalog changes it, once; run again, it changes nothing.
        var catalog = Path.GetTempFileName();
        await File.WriteAllTextAsync(catalog, """
            [{"externalId":"film-2","type":"VIDEO","title":"Launch film (final)","duration":40,"oembedUrl":"https://relay.test/api/oembed?url=https%3A%2F%2Fcdn.example.com%2Ffilm-2.mp4","thumbnailUrl":"https://cdn.example.com/film-2.jpg","detailsUrl":"https://video.example.com/film-2"}]
            """);
        var (checkExit, checkOutput) = await Cli.RunAsync(host.Services, "media", "--portal", $"{Portal}", "--file", catalog);
        var (exit, output) = await Cli.RunAsync(host.Services, "media", "--portal", $"{Portal}", "--file", catalog, "--apply");
        var (againExit, again) = await Cli.RunAsync(host.Services, "media", "--portal", $"{Portal}", "--file", catalog, "--apply");

        Assert.Equal((0, 0, 0), (checkExit, exit, againExit));
        Assert.Contains("--apply makes or updates", checkOutput, StringComparison.Ordinal);
        Assert.Contains($"VIDEO film-2: object {media.Id} updated", output, StringComparison.Ordinal);
        Assert.Contains($"VIDEO film-2: object {media.Id} unchanged", again, StringComparison.Ordinal);
        media = Assert.Single(HubSpot.Objects.Values);
        Assert.Equal("Launch film (final)", media.Title);
        Assert.Equal("https://cdn.example.com/film-2.jpg", media.Fields.GetProperty("thumbnailUrl").GetString());
        Assert.Equal("https://video.example.com/film-2", media.Fields.GetProperty("detailsPageLink").GetString());
        Assert.Equal(3, HubSpot.ObjectRequests);
    }

    [Fact]
    public async Task A_catalog_with_a_bad_entry_is_refused_whole_by_name()
    {
        using var host = await StartAsync();
        var catalog = Path.GetTempFileName();
        await File.WriteAllTextAsync(catalog, """[{"externalId":"ok","title":"Fine","oembedUrl":"https://video.example.com/o?id=1"},{"title":"No id","thumbnailUrl":"javascript:alert(1)"}]""");

        var (exit, output) = await Cli.RunAsync(host.Services, "media", "--portal", $"{Portal}", "--file", catalog, "--apply");

        Assert.Equal(2, exit);
        Assert.Contains("[1].externalId: is required", output, StringComparison.Ordinal);
        // (The local host allows plain http links as well; a javascript: link never.)
        Assert.Matches(@"\[1\]\.thumbnailUrl: must be an (http or )?https URL \(got a javascript: URL\)", output);
        Assert.Equal(0, HubSpot.ObjectRequests);
    }

    [Fact]
    public async Task Beacons_make_at_most_the_daily_bound_of_new_media_objects_per_portal_and_the_catalog_is_not_bound()
    {
        using var host = await StartAsync(new() { ["Relay:NewMediaPerPortalPerDay"] = "1" });

        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "new-1", media: Media("bound-1")).Content());
        await host.EventuallyAsync(() => HubSpot.EventsOf("new-1").Any(e => e.Key == "attention-span"), "the first new media is made and delivered");
        var objectCalls = HubSpot.ObjectRequests;
        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "new-2", media: Media("bound-2")).Content());
        var sessions = host.Service<SessionRepository>();
        await host.EventuallyAsync(
            () => sessions.GetAsync(Portal, "new-2", CancellationToken.None).GetAwaiter().GetResult()?.Session.MediaAwaitedSince > 0, "the second waits for the bound");

        Assert.Single(HubSpot.Objects.Values);
        Assert.Empty(HubSpot.EventsOf("new-2"));
        // Past the bound a new media costs HubSpot nothing: its listing is not read, as nothing could be made of it.
        Assert.Equal(objectCalls, HubSpot.ObjectRequests);
        Assert.Single(host.Logs, line => line.Contains("has had as many media objects made from beacons as it may", StringComparison.Ordinal));
        // Made from the catalog, it is there for the waiting session's next look.
        var catalog = Path.GetTempFileName();
        await File.WriteAllTextAsync(catalog, """[{"externalId":"bound-2","title":"Second","oembedUrl":"https://video.example.com/o?id=2"}]""");
        var (exit, output) = await Cli.RunAsync(host.Services, "media", "--portal", $"{Portal}", "--file", catalog, "--apply");
        Assert.Equal(0, exit);
        Assert.Contains("VIDEO bound-2: object", output, StringComparison.Ordinal);
        Assert.Contains(" made", output, StringComparison.Ordinal);
        Assert.Equal(2, HubSpot.Objects.Count);
    }

    [Fact]
    public async Task A_claim_whose_holder_stopped_after_hubspot_made_the_object_is_taken_over_without_a_second_object()
    {
        using var host = await StartAsync();
        var spec = new MediaObjectSpec { MediaType = "VIDEO", Title = "Launch film", ExternalId = "film-3" };
        // The earlier worker claimed, HubSpot made the object, and the worker stopped before recording it.
        var store = host.Service<MediaObjectStore>();
        Assert.NotNull(await store.TryClaimNewAsync(Portal, spec, DateTimeOffset.UtcNow.AddSeconds(-1), CancellationToken.None));
        var madeId = await MakeObjectAsync("""{"mediaType":"VIDEO","title":"Launch film","externalId":"film-3","oembedUrl":"https://relay.test/api/oembed?url=x"}""");

        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "after-crash", media: Media("film-3")).Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf("after-crash").Any(e => e.Key == "attention-span"), "the session is delivered");
        Assert.Equal(madeId, Assert.Single(HubSpot.Objects.Values).Id);
        Assert.All(HubSpot.EventsOf("after-crash"), e => Assert.Equal(madeId, e.Json.GetProperty("mediaBridgeId").GetInt64()));
    }

    [Fact]
    public async Task An_object_the_provider_made_before_is_found_by_its_external_id_and_not_made_again()
    {
        using var host = await StartAsync();
        long? existing = null;
        // 150 objects of the provider's catalogue (two pages), the one the sessions play among them.
        for (var i = 0; i < 150; i++)
        {
            var externalId = i == 120 ? "film-5" : $"catalogue-{i}";
            var id = await MakeObjectAsync($$"""{"mediaType":"VIDEO","title":"{{externalId}}","externalId":"{{externalId}}","oembedUrl":"https://video.example.com/oembed?id={{i}}"}""");
            if (i == 120)
                existing = id;
        }

        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "catalogue", media: Media("film-5", "film-5")).Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf("catalogue").Any(e => e.Key == "attention-span"), "the session is delivered");
        Assert.Equal(150, HubSpot.Objects.Count);
        Assert.All(HubSpot.EventsOf("catalogue"), e => Assert.Equal(existing, e.Json.GetProperty("mediaBridgeId").GetInt64()));
    }

    [Fact]
    public async Task A_portals_listing_is_read_once_and_after_that_a_new_media_costs_one_page_and_its_object()
    {
        using var host = await StartAsync();
        // Eleven pages, the last one half full: a page read again holds what was made since (until it fills, which costs
        // one page more once in a hundred objects).
        var catalogue = HubSpot.ProviderCatalogue(Portal, 1_050, "catalogue-");

        async Task<int> ObjectCallsOfAsync(string sessionId, string externalId)
        {
            var before = HubSpot.ObjectRequests;
            await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, sessionId, media: Media(externalId, externalId)).Content());
            await host.EventuallyAsync(() => HubSpot.EventsOf(sessionId).Any(e => e.Key == "attention-span"), $"session {sessionId} is delivered");
            return HubSpot.ObjectRequests - before;
        }

        long IdOf(string sessionId) => HubSpot.EventsOf(sessionId).Select(e => e.Json.GetProperty("mediaBridgeId").GetInt64()).Distinct().Single();

        // The first new media reads the whole listing (11 pages of up to 100), then makes its object.
        Assert.Equal(12, await ObjectCallsOfAsync("first-new", "new-1"));
        // The provider adds a media after the relay read the listing.
        var late = await MakeObjectAsync("""{"mediaType":"VIDEO","title":"late","externalId":"late-1","oembedUrl":"https://video.example.com/oembed?id=late"}""");
        // The next new media reads the last page again (which now holds the provider's new media too) and makes its object.
        Assert.Equal(2, await ObjectCallsOfAsync("second-new", "new-2"));
        // The provider's late media and one of its catalogue were seen in those pages: found in the relay's table, no call.
        Assert.Equal(0, await ObjectCallsOfAsync("late", "late-1"));
        Assert.Equal(0, await ObjectCallsOfAsync("catalogue", "catalogue-500"));

        Assert.Equal(late, IdOf("late"));
        Assert.Equal(catalogue[500], IdOf("catalogue"));
        Assert.Equal(1_053, HubSpot.Objects.Count);
        Assert.Single(HubSpot.Objects.Values, o => o.ExternalId == "new-1");
        Assert.Single(HubSpot.Objects.Values, o => o.ExternalId == "new-2");
    }

    [Fact]
    public async Task A_media_object_hubspot_refuses_dead_letters_the_events_with_its_answer()
    {
        // Media on a host the relay does not embed, and no oEmbed URL of its own: HubSpot refuses a video without one.
        using var host = await StartAsync(new() { ["Relay:OEmbedHosts"] = "video.example.com" });

        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "no-embed", media: Media("film-4")).Content());

        await host.EventuallyAsync(
            () => host.Service<DeadLetterStore>().Table.Query<TableEntity>().Count() == 7, "all seven events are dead-lettered");
        var letters = host.Service<DeadLetterStore>().Table.Query<TableEntity>().ToList();
        Assert.All(letters, letter => Assert.Contains("making the media object failed", letter.GetString("Answer"), StringComparison.Ordinal));
        Assert.All(letters, letter => Assert.Contains("oembedUrl: required for VIDEO and AUDIO media", letter.GetString("Answer"), StringComparison.Ordinal));
        Assert.Empty(HubSpot.Received);
        HubSpot.Refused.Clear();
    }

    [Fact]
    public async Task A_media_with_its_own_oembed_url_and_hubspot_id_needs_nothing_made()
    {
        using var host = await StartAsync();
        var id = await MakeObjectAsync("""{"mediaType":"VIDEO","title":"Made by the provider","oembedUrl":"https://video.example.com/oembed?id=5"}""");

        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "own-id", media: $$"""{"mediaBridgeId":{{id}},"type":"VIDEO"}""").Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf("own-id").Any(e => e.Key == "attention-span"), "the session is delivered");
        Assert.Single(HubSpot.Objects.Values);
        Assert.Equal(1, HubSpot.ObjectRequests);
    }
}
