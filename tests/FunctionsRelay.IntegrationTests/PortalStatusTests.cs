using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.IntegrationTests;

/// <summary>A portal's backlog as the operator reads it: in HubSpot calls waiting, and in minutes at its pace.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class PortalStatusTests(Azurite azurite) : WithFakeHubSpot
{
    [Fact]
    public async Task A_portal_whose_events_wait_past_the_setting_is_named_in_one_warning_a_minute()
    {
        // One call per 10 s: the session's second event reaches HubSpot about 10 s after it was due, its third 20 s.
        using var host = new RelayHost(azurite, HubSpot, new()
        {
            ["HubSpot:RequestsPerTenSeconds"] = "1",
            ["HubSpot:MaxInlineRetryAfter"] = "00:00:20",
            ["Relay:BacklogWarningAfter"] = "00:00:05",
            ["Relay:HoldAnonymousFor"] = "00:00:00",
        });
        await HubSpot.ConnectPortalAsync(host.Service<FunctionsRelay.Infrastructure.HubSpot.PortalTokenStore>(), 9494, TimeSpan.FromMinutes(30));
        var session = SessionBeacons.Typical(9494, "behind", media: HubSpot.ProviderMadeVideo(9494, 79_001, "Behind"));

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf("behind").Count >= 3, "three events have gone at one per 10 s", seconds: 45);
        var warnings = host.Logs.Where(line => line.Contains("Portal 9494 is behind: an event reached HubSpot", StringComparison.Ordinal)).ToList();
        Assert.Single(warnings);
        Assert.Contains("Relay__BacklogWarningAfter 00:00:05", warnings[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_portals_waiting_events_show_as_minutes_behind_at_its_pace()
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        settings["HubSpot:RequestsPerTenSeconds"] = "1"; // six calls a minute
        await using var relay = await IsolatedRelay.StartServicesAsync(settings);
        var sessions = relay.GetRequiredService<SessionRepository>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < 3; i++)
        {
            var session = new ViewingSession(9393, $"behind-{i}");
            session.Merge(new Beacon(9393, session.SessionId, BeaconEvent.Play, now, Seq: 0, Position: 0), now, 100);
            foreach (var key in new[] { "played", "quartile-0", "quartile-25" })
                session.Enqueue(new PendingEvent(key, key == "played" ? MediaEventKind.Played : MediaEventKind.PlayedPercent, "{}"));
            await sessions.SaveAsync(session, null, CancellationToken.None);
        }

        var line = Assert.Single(await relay.GetRequiredService<PortalStatusReport>().ReadAsync(9393, CancellationToken.None));

        Assert.Equal(9, line.EventsWaiting);
        Assert.Equal(1.5, line.BacklogMinutes);
    }
}
