using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// Viewers who convert later: a session known only by a utk that HubSpot does not know as a contact is held (nothing
/// sent, as HubSpot would drop it), asked about again on a schedule, sent once the utk is a contact, and dropped with a
/// log line after <c>Relay__HoldAnonymousFor</c>. On Azurite, against the stand-in HubSpot's utk look-up.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class AnonymousViewerTests(Azurite azurite) : IAsyncLifetime
{
    private const long Portal = 8181;
    private FakeHubSpot _hubSpot = null!;

    public async Task InitializeAsync() => _hubSpot = await FakeHubSpot.StartAsync();

    public async Task DisposeAsync() => await _hubSpot.DisposeAsync();

    private RelayHost Host(string holdFor) => new(azurite, _hubSpot, new()
    {
        ["Relay:AnonymousCheckInterval"] = "00:00:01",
        ["Relay:HoldAnonymousFor"] = holdFor,
    });

    /// <summary>A typical session watched by a visitor HubSpot does not know as a contact; its closed state, once the relay has decided on it.</summary>
    private async Task<SessionBeacons> WatchAnonymouslyAsync(RelayHost host, string sessionId, Func<ViewingSession, bool> until, string awaited)
    {
        await _hubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var session = SessionBeacons.Typical(Portal, sessionId);
        _hubSpot.AnonymousUtks["utk-" + sessionId] = true;

        await host.Client.PostAsync("/api/beacons", session.Content());

        var sessions = host.Service<SessionRepository>();
        await host.EventuallyAsync(
            () => sessions.GetAsync(Portal, sessionId, CancellationToken.None).GetAwaiter().GetResult() is { Session: { IsClosed: true } stored } && until(stored),
            awaited);
        return session;
    }

    [Fact]
    public async Task A_held_session_is_sent_once_its_viewer_becomes_a_contact()
    {
        using var host = Host("1.00:00:00");

        // Closed, every event decided, none sent: the relay keeps asking whether the utk is a contact.
        var session = await WatchAnonymouslyAsync(
            host, "converts-later", stored => stored.Outbox.Count == 7 && _hubSpot.ContactLookups >= 3, "the closed session holds its seven events and the utk is looked up again");
        Assert.Empty(_hubSpot.EventsOf(session.SessionId));
        Assert.Empty(_hubSpot.Dropped);
        Assert.Single(host.Logs, line => line.Contains($"Session {Portal}/converts-later is held: its viewer's utk is not a HubSpot contact yet; asked again every 00:00:01, dropped after 1.00:00:00", StringComparison.Ordinal));

        _hubSpot.MakeContact("utk-converts-later");

        await host.EventuallyAsync(() => _hubSpot.EventsOf(session.SessionId).Count == 7, "the seven events reach HubSpot once the utk is a contact");
        Assert.Equal(session.ExpectedEvents(), _hubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
        Assert.Empty(_hubSpot.Dropped);
        var stored = await host.Service<SessionRepository>().GetAsync(Portal, session.SessionId, CancellationToken.None);
        Assert.Empty(stored!.Session.Outbox);
        Assert.True(stored.Session.AnonymousHeldSince > 0);
    }

    [Fact]
    public async Task A_held_session_whose_viewer_never_converts_is_dropped_with_a_log_line_after_the_hold()
    {
        using var host = Host("00:00:03");

        var session = await WatchAnonymouslyAsync(host, "never-converts", stored => stored.Outbox.Count == 0, "the held events are dropped after the hold");
        Assert.Empty(_hubSpot.EventsOf(session.SessionId));
        Assert.Empty(_hubSpot.Dropped);
        Assert.Equal(7, host.Logs.Count(line => line.Contains($"Session {Portal}/never-converts: its viewer's utk has not become a HubSpot contact in 00:00:03", StringComparison.Ordinal)));
        Assert.Empty(host.Service<DeadLetterStore>().Table.Query<Azure.Data.Tables.TableEntity>());
    }

    [Fact]
    public async Task With_no_hold_a_utk_session_is_sent_as_it_is_without_a_look_up()
    {
        using var host = Host("00:00:00");
        await _hubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        _hubSpot.AnonymousUtks["utk-unheld"] = true;
        var session = SessionBeacons.Typical(Portal, "unheld");

        await host.Client.PostAsync("/api/beacons", session.Content());

        // Sent at once; the stand-in, which knows the utk as no contact, drops them as HubSpot would (our reading).
        await host.EventuallyAsync(() => _hubSpot.Dropped.Count == 7, "the seven events are sent, unchecked");
        Assert.Equal(0, _hubSpot.ContactLookups);
        // What this setting accepts: the stand-in would otherwise fail the test for sending events it does not keep.
        _hubSpot.Dropped.Clear();
    }

    [Fact]
    public async Task A_portal_that_did_not_grant_the_contacts_scope_gets_its_utk_sessions_as_before_with_a_warning()
    {
        using var host = Host("1.00:00:00");
        await _hubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        _hubSpot.WithoutContactsScope[Portal] = true;
        var session = SessionBeacons.Typical(Portal, "no-scope");

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => _hubSpot.EventsOf(session.SessionId).Count == 7, "the seven events reach HubSpot unchecked");
        Assert.Equal(1, _hubSpot.ContactLookups);
        Assert.Contains(host.Logs, line => line.Contains($"Portal {Portal}: HubSpot answered 403 to the relay's look-up of a utk (the portal has not granted the app's optional scope {ContactResolver.Scope}", StringComparison.Ordinal));
    }
}
