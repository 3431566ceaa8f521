using System.Net;
using System.Text;
using System.Text.Json;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.IntegrationTests;

[Collection(AzuriteCollection.Name)]
public sealed class HttpTests(Azurite azurite) : WithFakeHubSpot
{
    private static async Task<List<string>> ErrorsOf(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();

    [Fact]
    public async Task An_mparticle_session_summary_is_logged_beside_what_the_relays_log_of_the_session_shows()
    {
        using var host = new RelayHost(azurite, hubSpot: null);
        var t0 = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds();
        string Event(string session, string name, long at, string attributes) =>
            "{\"event_type\":\"custom_event\",\"data\":{\"custom_event_type\":\"media\",\"event_name\":\"" + name + "\",\"timestamp_unixtime_ms\":\"" + (t0 + at)
            + "\",\"custom_attributes\":{\"media_session_id\":\"" + session + "\",\"content_id\":\"v-1\",\"content_duration\":\"60000\",\"hubspot_portal_id\":\"4242\",\"hubspotutk\":\"u-1\""
            + attributes + "}}}";
        string Viewing(string session, string reportedMs) => string.Join(",",
            Event(session, "Play", 0, ""),
            Event(session, "Update Playhead Position", 10_000, ",\"playhead_position\":\"10000\""),
            Event(session, "Pause", 11_000, ",\"playhead_position\":\"11000\""),
            Event(session, "Media Session End", 12_000, ",\"playhead_position\":\"11000\""),
            Event(session, "Media Session Summary", 12_000, $",\"media_content_time_spent\":\"{reportedMs}\",\"media_content_complete\":false"));

        var answer = await host.Client.PostAsync("/api/beacons", new StringContent(
            $"{{\"events\":[{Viewing("agrees", "11000")},{Viewing("differs", "45000")}]}}", Encoding.UTF8, "application/json"));

        Assert.Equal("{\"accepted\":10,\"ignored\":0}", await answer.Content.ReadAsStringAsync());
        await host.EventuallyAsync(() => host.Logs.Count(l => l.Contains("the player reports", StringComparison.Ordinal)) == 2, "both summaries are logged");
        Assert.Contains(host.Logs, l => l.StartsWith("Information", StringComparison.Ordinal)
            && l.Contains("4242/agrees: the player reports 11.0 s of content played (complete: False); the relay's log of it shows 11.0 s", StringComparison.Ordinal));
        Assert.Contains(host.Logs, l => l.StartsWith("Warning", StringComparison.Ordinal)
            && l.Contains("4242/differs: the player reports 45.0 s of content played (complete: False); the relay's log of it shows 11.0 s", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Sessions:IdleTimeout", "00:00:00", "Sessions__IdleTimeout must be longer than zero")]
    [InlineData("Sessions:IdleTimeout", "soon", "Sessions:IdleTimeout")]
    [InlineData("HubSpot:RequestsPerTenSeconds", "500", "HubSpot__RequestsPerTenSeconds must be 1 to 110")]
    [InlineData("HubSpot:ClientSecret", "only-the-secret", "HubSpot__ClientId and HubSpot__ClientSecret go together")]
    [InlineData("Relay:BeaconQueue", "Beacons_Queue", "Relay__BeaconQueue must be a queue name")]
    [InlineData("Relay:PublicBaseUrl", "relay.example.com", "Relay__PublicBaseUrl must be an absolute URL")]
    public async Task A_bad_setting_stops_the_host_at_start_with_a_message_naming_it(string key, string value, string message)
    {
        // A generic host with AddRelay(), as both hosts build theirs: validation runs when it starts, before anything else.
        var builder = Host.CreateApplicationBuilder();
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        settings[key] = value;
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.Services.AddRelay(builder.Configuration);
        using var host = builder.Build();

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.True(failure.ToString().Contains(message, StringComparison.Ordinal), failure.ToString());
    }

    [Fact]
    public async Task The_oembed_endpoint_embeds_pages_of_allowed_hosts_only()
    {
        using var host = new RelayHost(azurite, hubSpot: null, new() { ["Relay:OEmbedHosts"] = "video.example.com,*.cdn.example.net" });

        var page = "https://video.example.com/watch?v=7&t=\"x\"";
        using var allowed = await host.Client.GetAsync("/api/oembed?url=" + Uri.EscapeDataString(page) + "&maxwidth=480");
        var oembed = JsonDocument.Parse(await allowed.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(("1.0", "video", 480), (oembed.GetProperty("version").GetString(), oembed.GetProperty("type").GetString(), oembed.GetProperty("width").GetInt32()));
        Assert.StartsWith("<iframe src=\"https://video.example.com/watch?v=7&amp;t=&quot;x&quot;\" width=\"480\"", oembed.GetProperty("html").GetString(), StringComparison.Ordinal);

        using var subdomain = await host.Client.GetAsync("/api/oembed?url=" + Uri.EscapeDataString("https://eu.cdn.example.net/a.mp4"));
        Assert.Equal(HttpStatusCode.OK, subdomain.StatusCode);

        foreach (var (url, status, error) in new[]
        {
            ("https://evil.example.org/phish", HttpStatusCode.NotFound, "url: evil.example.org is not a host this relay embeds (Relay__OEmbedHosts)"),
            ("http://video.example.com/watch?v=7", HttpStatusCode.NotFound, "url: must be an absolute https address"),
            ("javascript:alert(1)", HttpStatusCode.NotFound, "url: must be an absolute https address"),
            ("", HttpStatusCode.BadRequest, "url: required, the https address of the media's player page (or media: its id, at most 512 characters, for media played in apps)"),
        })
        {
            using var refused = await host.Client.GetAsync("/api/oembed?url=" + Uri.EscapeDataString(url));
            Assert.Equal(status, refused.StatusCode);
            Assert.Equal(error, JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        }

        // A media with no page (played in an app) gets a title card: its title only ever as text.
        const string hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        using var card = await host.Client.GetAsync("/api/oembed?format=card&media=app-7&title=" + Uri.EscapeDataString(hostile));
        var cardHtml = await card.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, card.StatusCode);
        Assert.DoesNotContain("<script", cardHtml, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", cardHtml, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("default-src 'none'; style-src 'unsafe-inline'", card.Headers.GetValues("Content-Security-Policy").Single());
        using var cardOEmbed = await host.Client.GetAsync("/api/oembed?media=app-7&title=" + Uri.EscapeDataString(hostile));
        var cardAnswer = JsonDocument.Parse(await cardOEmbed.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(hostile, cardAnswer.GetProperty("title").GetString());
        Assert.StartsWith("<iframe src=\"", cardAnswer.GetProperty("html").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("<script", cardAnswer.GetProperty("html").GetString(), StringComparison.OrdinalIgnoreCase);
        using var tooLong = await host.Client.GetAsync("/api/oembed?media=" + new string('m', 513));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);

        using var xml = await host.Client.GetAsync("/api/oembed?format=xml&url=" + Uri.EscapeDataString(page));
        Assert.Equal(HttpStatusCode.NotImplemented, xml.StatusCode);
    }

    [Fact]
    public async Task Bad_requests_get_4xx_answers_that_name_the_problem_and_queue_nothing()
    {
        using var host = new RelayHost(azurite, hubSpot: null, new() { ["Beacons:MaxBodyBytes"] = "2000" });
        var valid = SessionBeacons.Typical(4242, "http-1");
        var invalid = valid.Beacons.Take(3).Append(valid.Beacons[3].Replace("\"position\":4", "\"position\":-4", StringComparison.Ordinal));

        var badBeacon = await host.Client.PostAsync("/api/beacons", valid.Content(invalid));
        var notJson = await host.Client.PostAsync("/api/beacons", new StringContent("{oops", Encoding.UTF8, "application/json"));
        var form = await host.Client.PostAsync("/api/beacons", new StringContent("a=b", Encoding.UTF8, "application/x-www-form-urlencoded"));
        var huge = await host.Client.PostAsync("/api/beacons", new StringContent(new string(' ', 3000) + "[]", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, badBeacon.StatusCode);
        Assert.Equal(["beacons[3].position: must be a finite number >= 0 (seconds; got a number)"], await ErrorsOf(badBeacon));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.StartsWith("body: is not valid JSON", (await ErrorsOf(notJson))[0], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Equal(["Content-Type: must be application/json or text/plain (got application/x-www-form-urlencoded; charset=utf-8)"], await ErrorsOf(form));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Equal(["body: is 3002 bytes; at most 2000 are accepted"], await ErrorsOf(huge));
        var queued = await host.Service<FunctionsRelay.Infrastructure.Storage.BeaconQueue>().Queue.GetPropertiesAsync();
        Assert.Equal(0, queued.Value.ApproximateMessagesCount);
    }

    [Fact]
    public async Task Cors_allows_the_configured_player_origins_only()
    {
        using var host = new RelayHost(azurite, hubSpot: null);

        using var allowed = new HttpRequestMessage(HttpMethod.Options, "/api/beacons") { Headers = { { "Origin", "https://player.example.com" }, { "Access-Control-Request-Method", "POST" } } };
        using var other = new HttpRequestMessage(HttpMethod.Options, "/api/beacons") { Headers = { { "Origin", "https://evil.example.net" }, { "Access-Control-Request-Method", "POST" } } };
        var allowedAnswer = await host.Client.SendAsync(allowed);
        var otherAnswer = await host.Client.SendAsync(other);

        Assert.Equal(HttpStatusCode.NoContent, allowedAnswer.StatusCode);
        Assert.Equal("https://player.example.com", allowedAnswer.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("POST", allowedAnswer.Headers.GetValues("Access-Control-Allow-Methods").Single(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, otherAnswer.StatusCode);
        Assert.False(otherAnswer.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Without_a_HubSpot_app_the_relay_runs_dry_and_writes_the_events_it_would_send()
    {
        using var host = new RelayHost(azurite, hubSpot: null);
        var session = SessionBeacons.Typical(4242, "dry-1");

        var response = await host.Client.PostAsync("/api/beacons", session.Content());

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await host.EventuallyAsync(() => File.Exists(host.DryRunFile) && File.ReadAllLines(host.DryRunFile).Length == 7, "seven dry-run events are written");
        var lines = File.ReadAllLines(host.DryRunFile).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal(session.ExpectedEvents().Select(e => e.Key), lines.Select(l => l.GetProperty("event").GetString()));
        Assert.Equal("/media-bridge/2026-09/events/attention-span", lines[^1].GetProperty("path").GetString());
        Assert.Contains(host.Logs, line => line.Contains("Dry run: would POST /media-bridge/2026-09/events/media-played", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_account_outside_the_allowed_portals_cannot_install_the_app()
    {
        using var host = new RelayHost(azurite, HubSpot, new() { ["HubSpot:AllowedPortals"] = "777" });
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.Client.BaseAddress };
        var state = QueryHelpers.ParseQuery((await browser.GetAsync("/api/oauth/install")).Headers.Location!.Query)["state"].ToString();

        var callback = await browser.GetAsync($"/api/oauth/callback?code=code-for-778&state={Uri.EscapeDataString(state)}");

        Assert.Equal(HttpStatusCode.Forbidden, callback.StatusCode);
        Assert.Contains("HubSpot account 778 may not install this relay", await callback.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(await host.Service<PortalTokenStore>().GetAsync(778, CancellationToken.None));
        Assert.Null(await host.Service<PortalTokenStore>().GetAccessAsync(778, CancellationToken.None));
    }

    [Fact]
    public async Task The_install_flow_sends_the_browser_to_HubSpot_and_the_callback_stores_the_tokens()
    {
        using var host = new RelayHost(azurite, HubSpot);
        using var noRedirects = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.Client.BaseAddress };

        var install = await noRedirects.GetAsync("/api/oauth/install");

        Assert.Equal(HttpStatusCode.Redirect, install.StatusCode);
        var location = install.Headers.Location!;
        Assert.StartsWith("https://app.hubspot.com/oauth/authorize?", location.ToString(), StringComparison.Ordinal);
        var query = QueryHelpers.ParseQuery(location.Query);
        Assert.Equal(FakeHubSpot.ClientId, query["client_id"]);
        Assert.Equal("media_bridge.read media_bridge.write", query["scope"]);
        Assert.Equal("crm.objects.contacts.read crm.objects.contacts.write", query["optional_scope"]);
        Assert.EndsWith("/api/oauth/callback", query["redirect_uri"].ToString(), StringComparison.Ordinal);

        var callbackUrl = $"/api/oauth/callback?code=code-for-777&state={Uri.EscapeDataString(query["state"]!)}";
        var forged = await noRedirects.GetAsync($"/api/oauth/callback?code=code-for-777&state={Uri.EscapeDataString(query["state"] + "0")}");
        // The same state from another browser (without the install's nonce cookie) is refused.
        using var otherBrowser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.Client.BaseAddress };
        var elsewhere = await otherBrowser.GetAsync(callbackUrl);
        var callback = await noRedirects.GetAsync(callbackUrl);
        var replayed = await noRedirects.GetAsync(callbackUrl);

        const string Refused = "state: is missing, forged, used already, from another browser or older than 15 minutes";
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains(Refused, await forged.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, elsewhere.StatusCode);
        Assert.Contains(Refused, await elsewhere.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, replayed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, callback.StatusCode);
        var page = await callback.Content.ReadAsStringAsync();
        Assert.Contains("connected to HubSpot account 777", page, StringComparison.Ordinal);
        var token = await host.Service<PortalTokenStore>().GetAsync(777, CancellationToken.None);
        // The install made the portal's publishable key, and the page shows it.
        var key = (await host.Service<PortalTokenStore>().GetAccessAsync(777, CancellationToken.None))!.Key;
        Assert.Matches("^pk_[A-Za-z0-9_-]{32}$", key);
        Assert.Contains($"publishable key: {key}", page, StringComparison.Ordinal);
        Assert.Equal(PortalStatus.Connected, token!.Status);
        Assert.Contains(token.AccessToken, HubSpot.IssuedSecrets);
        Assert.DoesNotContain(token.AccessToken, token.ToString(), StringComparison.Ordinal);
        var logs = string.Join("\n", host.Logs);
        Assert.DoesNotContain(token.AccessToken, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(token.RefreshToken, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeHubSpot.ClientSecret, logs, StringComparison.Ordinal);
    }
}
