using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// A session's viewer is asked about once: what HubSpot answered of its utk is kept with the session, so that an
/// instance that sends its later events (each instance's cache of answers is its own) does not spend the portal's
/// look-ups on it again. On Azurite, two relays in turn, against the stand-in HubSpot's utk look-up.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ViewerLookUpTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 8383;

    [Fact]
    public async Task A_sessions_utk_found_a_contact_is_not_asked_about_again_by_another_instance()
    {
        var session = SessionBeacons.Typical(Portal, "asked-once");
        var firstHalf = session.Beacons.Take(3).ToList();
        var rest = session.Beacons.Skip(3).ToList();
        var before = HubSpot.ContactLookups;
        IReadOnlyDictionary<string, string?> settings;

        using (var first = new RelayHost(azurite, HubSpot))
        {
            settings = first.Settings;
            await HubSpot.ConnectPortalAsync(first.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
            await first.Client.PostAsync("/api/beacons", session.Content(firstHalf));
            var sessions = first.Service<SessionRepository>();
            await first.EventuallyAsync(
                () => HubSpot.EventsOf(session.SessionId).Count > 0
                    && sessions.GetAsync(Portal, session.SessionId, CancellationToken.None).GetAwaiter().GetResult() is { Session.Outbox.Count: 0 },
                "the played event is sent and saved as sent");
        }

        Assert.Equal(1, HubSpot.ContactLookups - before);

        // Another instance, its cache empty, sends the rest of the session.
        using var second = new RelayHost(azurite, HubSpot, settings.ToDictionary());
        await second.Client.PostAsync("/api/beacons", session.Content(rest));

        await second.EventuallyAsync(
            () => HubSpot.EventsOf(session.SessionId).Count == session.ExpectedEvents().Count, "the rest of the session's events reach HubSpot");
        Assert.Equal(session.ExpectedEvents(), HubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
        Assert.Equal(1, HubSpot.ContactLookups - before);
    }
}
