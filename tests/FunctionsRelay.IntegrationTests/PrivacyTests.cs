using System.Net;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using FunctionsRelay.Cli;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// What the relay keeps of a viewer, and how it forgets them (docs/privacy.md): HubSpot's signed privacy deletions and
/// <c>relay forget</c> erase a contact from sessions in every state, dead letters and poisoned messages; a webhook that is
/// not HubSpot's changes nothing; an email is never kept in plain text. On Azurite, against the stand-in HubSpot.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class PrivacyTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 7373;
    private const long Contact = 987_654_321;
    private const string Utk = "utk-jane-7c1f0e";
    private const string Email = "jane.privacy@example.com";
    private const string WebhookPath = "/api/" + HubSpotWebhookEndpoint.Route;

    /// <summary>The app's targetUrl: the relay's public address (Relay__PublicBaseUrl of the test host), as HubSpot signs it.</summary>
    private const string WebhookUrl = "https://relay.test" + WebhookPath;

    private static readonly string[] HerSessions = ["email-1", "held-1", "delivered-1", "open-1", "lettered-1"];

    private static readonly string[] ForgetCases = ["mine-1", "mine-2", "theirs-1"];

    private static string ViewerContact => $$"""{"utk":"{{Utk}}"}""";

    private async Task<(RelayHost Host, string SecretKey)> StartAsync(Dictionary<string, string?>? settings = null)
    {
        settings ??= [];
        settings["Relay:ForgetSweepAfter"] = "00:00:02";
        settings["Relay:ScheduledCheckTableAfter"] = "00:00:00";
        var host = new RelayHost(azurite, HubSpot, settings);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        var (exit, output) = await Cli.RunAsync(host.Services, "portal", "--portal", $"{Portal}", "--new-secret-key");
        Assert.Equal(RelayCli.Done, exit);
        return (host, output.Split('\n').Single(line => line.StartsWith("new secret source key", StringComparison.Ordinal)).Split(": ")[^1].Trim());
    }

    private static async Task PostAsync(RelayHost host, SessionBeacons session) =>
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.PostAsync("/api/beacons", session.Content())).StatusCode);

    private static async Task PostMParticleAsync(RelayHost host, string key, object batch)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/" + BeaconEndpoint.MParticleRoute)
        {
            Content = new StringContent(MParticleBatches.Json(batch), Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {key}");
        Assert.Equal(HttpStatusCode.Accepted, (await host.RawClient.SendAsync(request)).StatusCode);
    }

    private static Domain.Sessions.ViewingSession? Stored(RelayHost host, string sessionId) =>
        host.Service<SessionRepository>().GetAsync(Portal, sessionId, CancellationToken.None).GetAwaiter().GetResult()?.Session;

    private static int DeadLetters(RelayHost host) => host.Service<DeadLetterStore>().Table.Query<TableEntity>($"PartitionKey eq '{Portal}'").Count();

    private static int Poisoned(RelayHost host) => host.Service<PoisonedMessageStore>().ListAsync(Portal, null, CancellationToken.None).GetAwaiter().GetResult().Count;

    private static int Forgotten(RelayHost host) => host.Service<ForgottenViewers>().Table.Query<TableEntity>().Count();

    private static IReadOnlyCollection<string> TablesOf(RelayHost host) =>
        [.. host.Settings.Where(s => s.Key.StartsWith("Relay:", StringComparison.Ordinal) && s.Key.EndsWith("Table", StringComparison.Ordinal)).Select(s => s.Value!)];

    private static IReadOnlyCollection<string> QueuesOf(RelayHost host)
    {
        var queue = host.Service<BeaconQueue>();
        return [queue.Queue.Name, queue.PoisonQueue.Name, queue.Scheduled.Name, queue.ScheduledPoison.Name];
    }

    /// <summary>A message the queue gave up on, as the poison handler keeps it: beacons of the viewer.</summary>
    private static async Task PoisonAsync(RelayHost host, string sessionId)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var message = new RelayMessage(
            RelayMessageKind.Beacons, Portal, sessionId, [new Beacon(Portal, sessionId, BeaconEvent.Play, now - 60_000, 0, 0, Contact: new ContactInfo(null, Utk))]);
        await host.Service<BeaconQueue>().PoisonQueue.SendMessageAsync(new BinaryData(message.ToUtf8Json()));
        await host.EventuallyAsync(() => Poisoned(host) == 1, "the poisoned message kept");
    }

    [Fact]
    public async Task A_signed_privacy_deletion_erases_the_contact_from_sessions_in_every_state_and_a_webhook_not_hubspots_changes_nothing()
    {
        // Viewers who are no contact are asked about again after 20 s, their "no contact" cached for 10 s.
        var (relay, key) = await StartAsync(new() { ["Relay:AnonymousCheckInterval"] = "00:00:20" });
        using var host = relay;
        HubSpot.AddEmailToContact(Portal, Email, Contact);
        await PostMParticleAsync(host, key, MParticleBatches.RokuSession("email-1", DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds(), email: Email));
        await host.EventuallyAsync(() => HubSpot.EventsOf("email-1").Count == 7 && Stored(host, "email-1") is { Outbox.Count: 0 }, "the email viewer's session sent");
        await PoisonAsync(host, "poisoned-1");
        var other = SessionBeacons.Typical(Portal, "other-1");
        await PostAsync(host, other);
        await host.EventuallyAsync(() => Stored(host, "other-1") is { IsClosed: true, Outbox.Count: 0 }, "another viewer's session sent");

        // Before Jane became a contact: her session is held.
        HubSpot.AnonymousUtks[Utk] = true;
        await PostAsync(host, SessionBeacons.Typical(Portal, "held-1", contact: ViewerContact));
        await host.EventuallyAsync(() => Stored(host, "held-1") is { AnonymousHeldSince: > 0 }, "held-1 held");
        await Task.Delay(TimeSpan.FromSeconds(10.5));

        // She fills in a form: her utk is contact 987654321. Her next sessions are sent (one refused by HubSpot), one is still open.
        HubSpot.MakeContact(Utk, Contact);
        await PostAsync(host, SessionBeacons.Typical(Portal, "delivered-1", contact: ViewerContact));
        await host.EventuallyAsync(() => Stored(host, "delivered-1") is { IsClosed: true, Outbox.Count: 0 }, "delivered-1 sent");
        var open = new SessionBeacons(Portal, "open-1", contact: ViewerContact).Add("start", 0, null).Add("play", 0.5, 0).Add("heartbeat", 10.5, 10);
        await PostAsync(host, open);
        await host.EventuallyAsync(() => HubSpot.EventsOf("open-1").Count == 3 && Stored(host, "open-1") is { Outbox.Count: 0 }, "open-1's events so far sent");
        HubSpot.AnswerNextEvents(400, 1);
        await PostAsync(host, SessionBeacons.Typical(Portal, "lettered-1", contact: ViewerContact));
        await host.EventuallyAsync(() => DeadLetters(host) == 1 && Stored(host, "lettered-1") is { IsClosed: true, Outbox.Count: 0 }, "lettered-1's refused event dead-lettered");
        Assert.True(Stored(host, "held-1") is { AnonymousHeldSince: > 0, Outbox.Count: 7 }, "held-1 is still held when the deletion comes");
        Assert.False(Stored(host, "open-1")!.IsClosed);

        // Webhooks that are not HubSpot's: another secret, a stale timestamp, a signature over another body.
        var deletion = FakeHubSpot.PrivacyDeletions(Portal, Contact);
        using (var forged = await FakeHubSpot.SendWebhookAsync(host.RawClient, WebhookPath, WebhookUrl, deletion, secret: "not-the-app-secret"))
            Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        using (var stale = await FakeHubSpot.SendWebhookAsync(host.RawClient, WebhookPath, WebhookUrl, deletion, at: DateTimeOffset.UtcNow.AddMinutes(-6)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, stale.StatusCode);
            Assert.Contains("more than five minutes", await stale.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var altered = await FakeHubSpot.SendWebhookAsync(host.RawClient, WebhookPath, WebhookUrl, deletion, signedBody: FakeHubSpot.PrivacyDeletions(Portal, 5)))
            Assert.Equal(HttpStatusCode.Unauthorized, altered.StatusCode);
        using (var elsewhere = await FakeHubSpot.SendWebhookAsync(host.RawClient, WebhookPath, "https://attacker.example/api/hubspot/webhooks", deletion))
            Assert.Equal(HttpStatusCode.Unauthorized, elsewhere.StatusCode);
        await Task.Delay(1000);
        Assert.All(HerSessions, id => Assert.NotNull(Stored(host, id)));
        Assert.Equal((1, 1, 0), (DeadLetters(host), Poisoned(host), Forgotten(host)));

        // HubSpot deletes her and says so, twice (it retries; the contact.deletion comes with it).
        HubSpot.DeleteContact(Contact);
        for (var i = 0; i < 2; i++)
        {
            using var signed = await FakeHubSpot.SendWebhookAsync(host.RawClient, WebhookPath, WebhookUrl, deletion);
            Assert.Equal(HttpStatusCode.OK, signed.StatusCode);
            Assert.Equal(2, JsonDocument.Parse(await signed.Content.ReadAsStringAsync()).RootElement.GetProperty("deletions").GetInt32());
        }

        await host.EventuallyAsync(
            () => HerSessions.All(id => Stored(host, id) is null) && DeadLetters(host) == 0 && Poisoned(host) == 0,
            "every session, dead letter and poisoned message of hers erased");
        // The sweep a moment later, then a player's late retry of her beacons: dropped, no session made again.
        await Task.Delay(TimeSpan.FromSeconds(4));
        await PostAsync(host, new SessionBeacons(Portal, "late-1", contact: ViewerContact).Add("start", 0, null).Add("play", 0.5, 0));
        await host.EventuallyAsync(() => host.Logs.Any(line => line.Contains("late-1: 2 beacons of a viewer a privacy deletion erased are dropped", StringComparison.Ordinal)), "the late beacons dropped");
        Assert.Null(Stored(host, "late-1"));
        Assert.Empty(HubSpot.EventsOf("late-1"));

        Assert.NotNull(Stored(host, "other-1"));
        Assert.True(Forgotten(host) > 0);
        Assert.Empty(await StorageScan.FindAsync(azurite.ConnectionString, [Utk, Email, Contact.ToString(System.Globalization.CultureInfo.InvariantCulture)], TablesOf(host), QueuesOf(host)));
        var logs = string.Join("\n", host.Logs);
        Assert.DoesNotContain(Utk, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(Email, logs, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Relay_forget_lists_a_viewer_then_erases_them_and_a_wrong_command_line_changes_nothing()
    {
        var (relay, _) = await StartAsync();
        using var host = relay;
        await PostAsync(host, SessionBeacons.Typical(Portal, "mine-1", contact: ViewerContact));
        await PostAsync(host, SessionBeacons.Typical(Portal, "mine-2", contact: ViewerContact));
        await PostAsync(host, SessionBeacons.Typical(Portal, "theirs-1"));
        await host.EventuallyAsync(() => ForgetCases.All(id => Stored(host, id) is { IsClosed: true, Outbox.Count: 0 }), "the sessions sent");

        var (both, bothOutput) = await Cli.RunAsync(host.Services, "forget", "--portal", $"{Portal}", "--utk", Utk, "--email", Email, "--apply");
        Assert.Equal((RelayCli.Usage, 0), (both, Forgotten(host)));
        Assert.Contains("forget needs one of --email, --utk or --contact-id", bothOutput, StringComparison.Ordinal);

        var (listed, listing) = await Cli.RunAsync(host.Services, "forget", "--portal", $"{Portal}", "--utk", Utk);
        Assert.Equal(RelayCli.Done, listed);
        Assert.Contains("found 2 session(s)", listing, StringComparison.Ordinal);
        Assert.NotNull(Stored(host, "mine-1"));

        var (applied, output) = await Cli.RunAsync(host.Services, "forget", "--portal", $"{Portal}", "--utk", Utk, "--apply");
        Assert.Equal(RelayCli.Done, applied);
        Assert.Contains("erased 2 session(s)", output, StringComparison.Ordinal);
        Assert.DoesNotContain(Utk, listing + output, StringComparison.Ordinal);
        Assert.Null(Stored(host, "mine-1"));
        Assert.Null(Stored(host, "mine-2"));
        Assert.NotNull(Stored(host, "theirs-1"));
    }

    [Fact]
    public async Task An_email_is_kept_encrypted_until_it_resolves_then_dropped_and_never_stored_or_logged_in_plain_text()
    {
        var (relay, key) = await StartAsync(new() { ["Relay:AnonymousCheckInterval"] = "01:00:00" });
        using var host = relay;
        const string Known = "Known.Viewer@Example.com";
        const string Unknown = "not.yet.a.contact@example.com";
        var contactId = HubSpot.AddContactWithEmail(Portal, Known);
        var start = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds();
        await PostMParticleAsync(host, key, MParticleBatches.RokuSession("known-1", start, email: Known));
        await PostMParticleAsync(host, key, MParticleBatches.RokuSession("unknown-1", start, email: Unknown));
        // A mis-mapped output: an email where the contact id belongs is refused without the email in the answer or the log.
        var misMapped = MParticleBatches.RokuSession("mismapped-1", start);
        ((Dictionary<string, object>)misMapped["user_attributes"]!)["hubspot_contact_id"] = Unknown;
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/api/" + BeaconEndpoint.MParticleRoute) { Content = new StringContent(MParticleBatches.Json(misMapped), Encoding.UTF8, "application/json") })
        {
            request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {key}");
            using var refused = await host.RawClient.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.DoesNotContain("not.yet", await refused.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }

        await host.EventuallyAsync(() => HubSpot.EventsOf("known-1").Count == 7 && Stored(host, "known-1") is { Outbox.Count: 0 }, "the known viewer's session sent");
        await host.EventuallyAsync(() => Stored(host, "unknown-1") is { AnonymousHeldSince: > 0 }, "the unknown viewer's session held");

        var known = Stored(host, "known-1")!;
        Assert.Null(known.Email);
        Assert.Equal(contactId, known.ResolvedContactId);
        var held = Stored(host, "unknown-1")!;
        Assert.StartsWith("ve1:", held.Email!.Value.Value, StringComparison.Ordinal);
        Assert.All(HubSpot.EventsOf("known-1"), e => Assert.Equal(contactId, e.Json.GetProperty("contactId").GetInt64()));
        Assert.Empty(await StorageScan.FindAsync(azurite.ConnectionString, [Known, Unknown], TablesOf(host), QueuesOf(host)));
        var logs = string.Join("\n", host.Logs);
        Assert.DoesNotContain("known.viewer", logs, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("not.yet.a.contact", logs, StringComparison.OrdinalIgnoreCase);
    }
}
