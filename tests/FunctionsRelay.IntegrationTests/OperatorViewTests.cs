using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using FunctionsRelay.Cli;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Telemetry;
using FunctionsRelay.Local.OperatorView;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// Delivery health per portal: the relay's OpenTelemetry counters as its exporter wrote them to the metrics table on
/// Azurite, beside storage's state, shown by the operator view in a real browser and printed by <c>relay status</c>.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class OperatorViewTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 6161;

    [Fact]
    public async Task A_portals_beacons_refusals_deliveries_and_latency_show_in_the_operator_view_and_relay_status()
    {
        using var host = new RelayHost(azurite, HubSpot, new() { ["Relay:MetricsInterval"] = "00:00:01" });
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        HubSpot.AnswerNextEvents(429, 1, retryAfterSeconds: 1);

        // A session watched, a request with another key for the portal, and a body that names no portal at all.
        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "watched").Content());
        using var forged = new HttpRequestMessage(HttpMethod.Post, "/api/beacons") { Content = SessionBeacons.Typical(Portal, "forged").Content() };
        forged.Headers.Add("X-Relay-Key", "pk_" + new string('x', 32));
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.RawClient.SendAsync(forged)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await host.RawClient.PostAsync("/api/beacons", new StringContent("{oops", Encoding.UTF8, "application/json"))).StatusCode);

        var report = host.Service<PortalHealthReport>();
        await host.EventuallyAsync(
            () => report.ReadAsync(Portal, CancellationToken.None).GetAwaiter().GetResult().Portals is [{ Figures.LastHour.Delivered: 7, State.EventsWaiting: 0 }],
            "the seven events are delivered, and the exporter has written them");
        var (_, portals) = await report.ReadAsync(null, CancellationToken.None);
        var health = Assert.Single(portals, p => p.PortalId == Portal);
        var hour = health.Figures!.LastHour;
        Assert.Equal(10, hour["beacons.accepted"]);
        Assert.Equal(new Dictionary<string, long> { ["wrong_key"] = 1 }, hour.By("requests.refused"));
        Assert.Equal((1, 1), (hour["sessions.opened"], hour["sessions.closed.end"]));
        Assert.Equal((7, 7, 0), (hour["events.decided"], hour.Delivered, hour["events.dead_lettered"]));
        // Seven events (one answered 429 first), the look-up of the viewer's utk, a look for the media object and its making.
        Assert.Equal(new Dictionary<string, long> { ["2xx"] = 10, ["429"] = 1 }, hour.By("hubspot.answers"));
        Assert.Equal(7, hour.Latency.Sum());
        Assert.True(hour.P50 > 0 && hour.P95 >= hour.P50, $"p50 {hour.P50}, p95 {hour.P95}");
        // The event that met the 429 waited its second: the slowest are at least that slow.
        Assert.True(hour.P95 >= 1, $"p95 {hour.P95}");
        Assert.Equal(hour.Counts, health.Figures.LastDay.Counts);
        Assert.Equal((0, 1, 0, 0), (health.State!.OpenSessions, health.State.ClosedSessions, health.State.DeadLetters, health.State.Poisoned));
        var unattributed = Assert.Single(portals, p => p.PortalId is null);
        Assert.Equal(new Dictionary<string, long> { ["invalid"] = 1 }, unattributed.Figures!.LastHour.By("requests.refused"));

        var shown = await BrowserScript.RunAsync(
            "operator-view.mjs", host.Client.BaseAddress!.ToString().TrimEnd('/'), Portal.ToString(CultureInfo.InvariantCulture), BrowserScript.Artifacts);
        foreach (var range in new[] { "hour", "day" })
        {
            var figures = shown.GetProperty(range).GetProperty("figures");
            string Figure(string name) => figures.GetProperty(name).GetString()!;
            Assert.Equal(("10", "1", "1 / 1", "7", "7", "0"), (Figure("accepted"), Figure("refused"), Figure("sessions"), Figure("decided"), Figure("delivered"), Figure("dead-lettered")));
            Assert.Equal("wrong_key: 1", Figure("refused-by-reason"));
            Assert.Equal("2xx: 10, 429: 1", Figure("answers"));
            Assert.Equal("0 / 0", Figure("held"));
            // The page shows the latencies as relay status does: one rounding (FigureTotals.ShownSeconds).
            Assert.Equal($"{hour.P50Shown} / {hour.P95Shown}", Figure("latency"));
            Assert.Equal(("Token: " + health.State.Token, "1", "0", "0"), (Figure("token"), Figure("closed"), Figure("outbox"), Figure("dead-letters")));
            var plots = shown.GetProperty(range).GetProperty("plots");
            Assert.True(Marks(plots, "volume", "beaconsAccepted") >= 1 && Marks(plots, "volume", "eventsDelivered") == 1, plots.ToString());
            Assert.True(Marks(plots, "latency", "p50") == 1 && Marks(plots, "latency", "p95") == 1, plots.ToString());
        }

        BrowserScript.AssertScreenshots(shown);

        var (exit, output) = await Cli.RunAsync(host.Services, "status", "--portal", Portal.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(RelayCli.Done, exit);
        Assert.Contains(
            $"last hour: beacons 10 accepted, 1 requests refused (wrong_key 1); sessions 1 opened, 1 closed; events 7 decided, 7 delivered, 0 dead-lettered; anonymous viewers: 0 sessions held, 0 events dropped; latency p50 {hour.P50Shown}, p95 {hour.P95Shown}; ",
            output,
            StringComparison.Ordinal);
        Assert.Contains("HubSpot answers (2xx 10, 429 1); poisoned 0", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", HttpStatusCode.OK)]
    [InlineData("::1", HttpStatusCode.OK)]
    [InlineData("::ffff:127.0.0.1", HttpStatusCode.OK)]
    [InlineData("::ffff:203.0.113.7", HttpStatusCode.Forbidden)]
    [InlineData("203.0.113.7", HttpStatusCode.Forbidden)]
    [InlineData("10.0.0.4", HttpStatusCode.Forbidden)]
    public async Task The_operator_view_answers_only_a_browser_on_the_same_machine(string client, HttpStatusCode expected)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        // This test asks only for the page, which never reads the report.
        builder.Services.AddSingleton(_ => new FunctionsRelay.Infrastructure.Http.OperatorViewEndpoint(report: null!, missing: null!, hubSpot: null!, Microsoft.Extensions.Logging.Abstractions.NullLogger<FunctionsRelay.Infrastructure.Http.OperatorViewEndpoint>.Instance));
        await using var app = builder.Build();
        // As the connection would say: the address the request came from.
        app.Use((context, next) =>
        {
            context.Connection.RemoteIpAddress = IPAddress.Parse(client);
            return next(context);
        });
        app.MapOperatorView();
        await app.StartAsync();

        using var answer = await app.GetTestClient().GetAsync(new Uri("/operator", UriKind.Relative));

        Assert.Equal(expected, answer.StatusCode);
        if (expected == HttpStatusCode.Forbidden)
            Assert.Contains("only on this machine; on Azure open /api/operator with the function app's master key, or use relay status", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static int Marks(JsonElement plots, string plot, string series) =>
        plots.GetProperty(plot).TryGetProperty(series, out var count) ? count.GetInt32() : 0;

    [Theory]
    [InlineData(new long[] { 0, 0, 0, 4 }, 0.5, 0.75)] // all four in (0.5 s, 1 s]: the median halfway
    [InlineData(new long[] { 10, 0, 0, 0 }, 0.95, 0.095)] // all under 0.1 s
    [InlineData(new long[] { 5, 0, 0, 5 }, 0.5, 0.1)] // the median at the top of the first bucket
    public void Percentiles_are_interpolated_inside_their_bucket(long[] firstBuckets, double quantile, double expected)
    {
        var buckets = new long[RelayMetrics.LatencyBuckets.Count + 1];
        firstBuckets.CopyTo(buckets, 0);

        Assert.Equal(expected, FigureTotals.LatencyPercentile(buckets, quantile)!.Value, 6);
    }

    [Fact]
    public void A_latency_past_the_last_bound_is_reported_as_that_bound_and_none_as_none()
    {
        var buckets = new long[RelayMetrics.LatencyBuckets.Count + 1];
        Assert.Null(FigureTotals.LatencyPercentile(buckets, 0.5));

        buckets[^1] = 3;
        Assert.Equal(RelayMetrics.LatencyBuckets[^1], FigureTotals.LatencyPercentile(buckets, 0.95));
    }

    [Theory]
    [InlineData(0.975, "0.98 s")] // the binary 0.97499... is 975 ms: half a hundredth, rounded up as relay status always did
    [InlineData(0.004, "0.00 s")]
    [InlineData(9.995, "10 s")]
    [InlineData(61.5, "62 s")]
    [InlineData(150.0, "2.5 min")]
    [InlineData(null, "-")]
    public void A_latency_is_shown_one_way_rounded_half_up_from_whole_milliseconds(double? seconds, string shown) =>
        Assert.Equal(shown, FigureTotals.ShownSeconds(seconds));

    [Fact]
    public async Task A_dry_runs_portal_without_a_token_is_not_shown_as_a_fault()
    {
        using var host = new RelayHost(azurite, hubSpot: null);
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal + 1, "dry-shown").Content())).StatusCode);
        await host.EventuallyAsync(
            () => host.Service<PortalHealthReport>().ReadAsync(Portal + 1, CancellationToken.None).GetAwaiter().GetResult().Portals is [{ State.ClosedSessions: 1 }],
            "the dry run's session closed");

        var shown = await BrowserScript.RunAsync(
            "operator-view.mjs", host.Client.BaseAddress!.ToString().TrimEnd('/'), (Portal + 1).ToString(CultureInfo.InvariantCulture), BrowserScript.Artifacts);

        var hour = shown.GetProperty("hour");
        Assert.Equal("Token: not installed", hour.GetProperty("figures").GetProperty("token").GetString());
        Assert.DoesNotContain("disconnected", hour.GetProperty("tokenClass").GetString(), StringComparison.Ordinal);
    }
}
