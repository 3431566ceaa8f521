using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using Azure.Identity;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Telemetry;
using OpenTelemetry.Trace;

namespace FunctionsRelay.IntegrationTests;

/// <summary>The relay's counters as OpenTelemetry exports them: what a session and a bad request add, per HubSpot account.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class TelemetryTests(Azurite azurite) : IAsyncLifetime, IDisposable
{
    private const long Portal = 7070;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, long Value, Dictionary<string, object?> Tags)> _measurements = new();
    private FakeHubSpot _hubSpot = null!;

    public async Task InitializeAsync()
    {
        _hubSpot = await FakeHubSpot.StartAsync();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RelayMetrics.MeterName)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            _measurements.Enqueue((instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value))));
        _listener.Start();
    }

    public async Task DisposeAsync() => await _hubSpot.DisposeAsync();

    public void Dispose() => _listener.Dispose();

    private long Sum(string instrument, Func<Dictionary<string, object?>, bool>? where = null) =>
        _measurements.Where(m => m.Instrument == instrument && (where?.Invoke(m.Tags) ?? true)).Sum(m => m.Value);

    private static bool OfPortal(Dictionary<string, object?> tags) => tags.GetValueOrDefault("hubspot.portal_id") is Portal;

    [Fact]
    public async Task A_session_and_a_bad_request_show_in_the_relays_counters()
    {
        using var host = new RelayHost(azurite, _hubSpot);
        await _hubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var session = SessionBeacons.Typical(Portal, "counted-1");

        await host.Client.PostAsync("/api/beacons", session.Content());
        var bad = await host.Client.PostAsync("/api/beacons", new StringContent("{oops", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        await host.EventuallyAsync(() => Sum("relay.events.delivered", OfPortal) == 7, "all seven events are delivered and counted");
        Assert.Equal(10, Sum("relay.beacons.accepted", OfPortal));
        Assert.Equal(1, Sum("relay.events.delivered", tags => OfPortal(tags) && tags["event.kind"] is "attention-span"));
        Assert.Equal(1, Sum("relay.media_objects.made", OfPortal));
        Assert.Equal(10, Sum("relay.hubspot.answers", tags => OfPortal(tags) && tags["http.status_class"] is "2xx")); // 7 events, the utk look-up, a look for the object, making it
        Assert.Equal(0, Sum("relay.events.dead_lettered", OfPortal));
        Assert.Equal(1, Sum("relay.requests.refused", tags => tags["reason"] is "invalid"));
    }

    [Fact]
    public async Task Rate_limits_and_rejections_are_counted_by_status_class()
    {
        using var host = new RelayHost(azurite, _hubSpot);
        await _hubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        _hubSpot.AnswerNextEvents(429, 1, retryAfterSeconds: 1);
        _hubSpot.AnswerNextEvents(400, 1);

        await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, "counted-2").Content());

        await host.EventuallyAsync(() => Sum("relay.events.delivered", OfPortal) + Sum("relay.events.dead_lettered", OfPortal) == 7, "every event is delivered or dead-lettered");
        Assert.Equal(1, Sum("relay.hubspot.answers", tags => OfPortal(tags) && tags["http.status_class"] is "429"));
        Assert.Equal(1, Sum("relay.hubspot.answers", tags => OfPortal(tags) && tags["http.status_class"] is "4xx"));
        Assert.Equal(1, Sum("relay.events.dead_lettered", OfPortal));
    }

    [Fact]
    public async Task A_viewers_utk_in_the_contact_look_up_reaches_no_trace_and_no_log_line()
    {
        var spans = new List<System.Diagnostics.Activity>();
        // The typical session's viewer is known by the utk "utk-" + its session id.
        const string utk = "utk-redacted-1";
        var host = new RelayHost(azurite, _hubSpot, services: services => services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(spans)));
        await _hubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var session = SessionBeacons.Typical(Portal, "redacted-1");

        await host.Client.PostAsync("/api/beacons", session.Content());
        await host.EventuallyAsync(() => _hubSpot.EventsOf("redacted-1").Any(e => e.Key == "attention-span"), "the session is delivered");
        await host.DisposeAsync();

        Assert.True(_hubSpot.ContactLookups >= 1);
        var lookUp = Assert.Single(spans, span => (span.GetTagItem("url.full") as string)?.Contains("/contact/utk/", StringComparison.Ordinal) == true);
        Assert.EndsWith("/contacts/v1/contact/utk/REDACTED/profile", (string)lookUp.GetTagItem("url.full")!, StringComparison.Ordinal);
        Assert.All(spans, span =>
        {
            Assert.DoesNotContain(utk, span.DisplayName, StringComparison.Ordinal);
            Assert.All(span.TagObjects, tag => Assert.DoesNotContain(utk, tag.Value?.ToString() ?? "", StringComparison.Ordinal));
        });
        Assert.DoesNotContain(host.Logs, line => line.Contains(utk, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("ClientId=0b1c2d3e-aaaa-bbbb-cccc-123456789012;Authorization=AAD", true)]
    [InlineData("Authorization=AAD", true)]
    [InlineData("", false)]
    [InlineData("Authorization=None", false)]
    public void Application_insights_is_reached_as_the_managed_identity_the_deployment_names(string authentication, bool managedIdentity)
    {
        var credential = TelemetryExtensions.ApplicationInsightsCredential(authentication);

        Assert.Equal(managedIdentity, credential is ManagedIdentityCredential);
        Assert.Equal(managedIdentity, credential is not null);
    }
}
