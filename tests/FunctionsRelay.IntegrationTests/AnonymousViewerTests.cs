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
public sealed class AnonymousViewerTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 8181;

    private RelayHost Host(string holdFor, Dictionary<string, string?>? more = null) => new(azurite, HubSpot, new Dictionary<string, string?>
    {
        ["Relay:AnonymousCheckInterval"] = "00:00:01",
        ["Relay:HoldAnonymousFor"] = holdFor,
    }.Concat(more ?? []).ToDictionary());

    /// <summary>A typical session watched by a visitor HubSpot does not know as a contact; its closed state, once the relay has decided on it.</summary>
    private async Task<SessionBeacons> WatchAnonymouslyAsync(RelayHost host, string sessionId, Func<ViewingSession, bool> until, string awaited)
    {
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var session = SessionBeacons.Typical(Portal, sessionId);
        HubSpot.AnonymousUtks["utk-" + sessionId] = true;

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
            host, "converts-later", stored => stored.Outbox.Count == 7 && HubSpot.ContactLookups >= 3, "the closed session holds its seven events and the utk is looked up again");
        Assert.Empty(HubSpot.EventsOf(session.SessionId));
        Assert.Empty(HubSpot.Dropped);
        Assert.Single(host.Logs, line => line.Contains($"Session {Portal}/converts-later is held: its viewer's utk is not a HubSpot contact yet; asked again after 00:00:01, then after as long as it has been held (up to a day), dropped after 1.00:00:00", StringComparison.Ordinal));

        HubSpot.MakeContact("utk-converts-later");

        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Count == 7, "the seven events reach HubSpot once the utk is a contact");
        Assert.Equal(session.ExpectedEvents(), HubSpot.EventsOf(session.SessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
        Assert.Empty(HubSpot.Dropped);
        // HubSpot has the last event a moment before the relay saves it as sent.
        var sessions = host.Service<SessionRepository>();
        await host.EventuallyAsync(
            () => sessions.GetAsync(Portal, session.SessionId, CancellationToken.None).GetAwaiter().GetResult() is { Session.Outbox.Count: 0 },
            "the session's outbox is empty once its events are sent");
        var stored = await sessions.GetAsync(Portal, session.SessionId, CancellationToken.None);
        Assert.True(stored!.Session.AnonymousHeldSince > 0);
        Assert.Equal(7, HubSpot.EventsOf(session.SessionId).Count);
    }

    [Fact]
    public async Task A_held_sessions_checks_rank_as_plain_look_ups_not_with_played_events()
    {
        using var host = Host("1.00:00:00", new() { ["Logging:LogLevel:FunctionsRelay.Infrastructure.HubSpot.HubSpotPacer"] = "Debug" });

        await WatchAnonymouslyAsync(host, "checked-again", _ => HubSpot.ContactLookups >= 3, "the held viewer asked about again twice");

        // Its first look-up was a live viewer's, ranked with its played event; each check after it a plain look-up.
        Assert.Equal(1, host.Logs.Count(line => line.Contains($"Pacer: portal {Portal} PlayedLookUp budget taken", StringComparison.Ordinal)));
        Assert.True(host.Logs.Count(line => line.Contains($"Pacer: portal {Portal} LookUp budget taken", StringComparison.Ordinal)) >= 2);
    }

    [Fact]
    public async Task A_held_session_whose_viewer_never_converts_is_dropped_with_a_log_line_after_the_hold()
    {
        using var host = Host("00:00:03");

        var session = await WatchAnonymouslyAsync(host, "never-converts", stored => stored.Outbox.Count == 0, "the held events are dropped after the hold");
        Assert.Empty(HubSpot.EventsOf(session.SessionId));
        Assert.Empty(HubSpot.Dropped);
        Assert.Equal(7, host.Logs.Count(line => line.Contains($"Session {Portal}/never-converts: its viewer's utk has not become a HubSpot contact in 00:00:03", StringComparison.Ordinal)));
        Assert.Empty(host.Service<DeadLetterStore>().Table.Query<Azure.Data.Tables.TableEntity>());
    }

    [Fact]
    public async Task With_no_hold_a_utk_session_is_sent_as_it_is_without_a_look_up()
    {
        using var host = Host("00:00:00");
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        HubSpot.AnonymousUtks["utk-unheld"] = true;
        var session = SessionBeacons.Typical(Portal, "unheld");

        await host.Client.PostAsync("/api/beacons", session.Content());

        // Sent at once; the stand-in, which knows the utk as no contact, drops them as HubSpot would (our reading).
        await host.EventuallyAsync(() => HubSpot.Dropped.Count == 7, "the seven events are sent, unchecked");
        Assert.Equal(0, HubSpot.ContactLookups);
        // What this setting accepts: the stand-in would otherwise fail the test for sending events it does not keep.
        HubSpot.Dropped.Clear();
    }

    [Fact]
    public async Task A_portal_that_did_not_grant_the_contacts_scope_gets_its_utk_sessions_as_before_with_a_warning()
    {
        using var host = Host("1.00:00:00");
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        HubSpot.WithoutContactsScope[Portal] = true;
        var session = SessionBeacons.Typical(Portal, "no-scope");

        await host.Client.PostAsync("/api/beacons", session.Content());

        await host.EventuallyAsync(() => HubSpot.EventsOf(session.SessionId).Count == 7, "the seven events reach HubSpot unchecked");
        Assert.Equal(1, HubSpot.ContactLookups);
        Assert.Contains(host.Logs, line => line.Contains($"Portal {Portal}: HubSpot answered 403 to the relay's look-up of a utk (the portal has not granted the app's optional scope {ContactResolver.Scope}", StringComparison.Ordinal));
    }
    [Fact]
    public async Task A_held_session_asks_again_after_as_long_as_it_has_been_held_not_every_interval()
    {
        // Held for 20 s with a 1 s interval: asked at about 0, 1, 2, 4, 8 and 16 s, not twenty times.
        using var host = Host("00:00:20");

        var session = await WatchAnonymouslyAsync(host, "backs-off", stored => stored.Outbox.Count == 0, "the held events are dropped after the hold");

        Assert.Empty(HubSpot.EventsOf(session.SessionId));
        Assert.InRange(HubSpot.ContactLookups, 4, 8);
    }

    [Fact]
    public async Task Beyond_the_portals_hourly_bound_of_new_holds_an_unknown_viewers_session_is_dropped_not_held()
    {
        using var host = Host("1.00:00:00", new() { ["Relay:MaxNewHeldSessionsPerPortalPerHour"] = "2" });
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var ids = Enumerable.Range(1, 4).Select(i => $"stranger-{i}").ToList();
        foreach (var id in ids)
        {
            HubSpot.AnonymousUtks["utk-" + id] = true;
            await host.Client.PostAsync("/api/beacons", SessionBeacons.Typical(Portal, id).Content());
            // One after the other, so which two are held is known.
            var sessions = host.Service<SessionRepository>();
            await host.EventuallyAsync(
                () => sessions.GetAsync(Portal, id, CancellationToken.None).GetAwaiter().GetResult() is { Session: { IsClosed: true } s }
                    && (s.AnonymousHeldSince > 0 || (s.Refused == SessionRefusal.HoldBound && s.Outbox.Count == 0)),
                $"{id} is held or dropped");
        }

        var stored = ids.Select(id => host.Service<SessionRepository>().GetAsync(Portal, id, CancellationToken.None).GetAwaiter().GetResult()!.Session).ToList();
        Assert.Equal([true, true, false, false], stored.Select(s => s.AnonymousHeldSince > 0));
        Assert.Equal([false, false, true, true], stored.Select(s => s.Refused == SessionRefusal.HoldBound));
        Assert.All(stored.Skip(2), s => Assert.Empty(s.Outbox));
        Assert.All(ids, id => Assert.Empty(HubSpot.EventsOf(id)));
        // One line per session refused, not one per event.
        Assert.Equal(2, host.Logs.Count(line => line.Contains("such holds this hour (Relay__MaxNewHeldSessionsPerPortalPerHour)", StringComparison.Ordinal)));
    }
}
