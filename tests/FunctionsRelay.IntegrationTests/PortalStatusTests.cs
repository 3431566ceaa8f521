using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.IntegrationTests;

/// <summary>A portal's backlog as the operator reads it: in HubSpot calls waiting, and in minutes at its pace.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class PortalStatusTests(Azurite azurite)
{
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
