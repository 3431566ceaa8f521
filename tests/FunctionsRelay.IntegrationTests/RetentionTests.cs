using Azure.Data.Tables;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsRelay.IntegrationTests;

/// <summary>Retention on Azurite: what is past <c>Relay__RetentionDays</c> goes, what is younger or still owed to HubSpot stays.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class RetentionTests(Azurite azurite)
{
    private const long Portal = 5252;

    [Theory]
    [InlineData(0)]
    [InlineData(35)]
    public async Task Closed_delivered_sessions_go_after_the_retention_days_what_never_reached_HubSpot_only_after_its_own_and_counters_after_two(int undeliveredDays)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(-40));
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        settings["Relay:RetentionDays"] = "30";
        settings["Relay:UndeliveredRetentionDays"] = undeliveredDays.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var relay = await IsolatedRelay.StartServicesAsync(settings, services => services.AddSingleton<TimeProvider>(time));
        var sessions = relay.GetRequiredService<SessionRepository>();
        var deadLetters = relay.GetRequiredService<DeadLetterStore>();
        var poisoned = relay.GetRequiredService<PoisonedMessageStore>();

        // 40 days ago: sessions closed and delivered (one with a dead letter HubSpot refused), one closed with an event
        // still owed, one open; a poisoned message (beacons the relay answered 202 for).
        await sessions.SaveAsync(Session("old-delivered", closed: true), null, CancellationToken.None);
        await sessions.SaveAsync(Session("old-refused", closed: true), null, CancellationToken.None);
        var owed = Session("old-owed", closed: true);
        owed.Enqueue(new PendingEvent("attention-span", MediaEventKind.AttentionSpan, "{}"));
        await sessions.SaveAsync(owed, null, CancellationToken.None);
        await sessions.SaveAsync(Session("old-open", closed: false), null, CancellationToken.None);
        await deadLetters.AddAsync(Portal, "old-refused", new PendingEvent("played", MediaEventKind.Played, "{}"), 400, "refused", CancellationToken.None);
        await poisoned.KeepAsync("beacons", "old-message", BinaryData.FromString("not a relay message"), CancellationToken.None);
        var quotas = relay.GetRequiredService<QuotaStore>();
        Assert.Equal(QuotaTake.Taken, await quotas.TakeHeldAsync(Portal, 10, CancellationToken.None));
        // 20 days later: the same again, younger than the retention when it runs.
        time.Advance(TimeSpan.FromDays(20));
        await sessions.SaveAsync(Session("young-delivered", closed: true), null, CancellationToken.None);
        await deadLetters.AddAsync(Portal, "young-delivered", new PendingEvent("played", MediaEventKind.Played, "{}"), 400, "refused", CancellationToken.None);
        await poisoned.KeepAsync("beacons", "young-message", BinaryData.FromString("not a relay message"), CancellationToken.None);

        time.Advance(TimeSpan.FromDays(20));
        // Counters of three days ago and of one: only two days are kept.
        var figures = relay.GetRequiredService<FunctionsRelay.Infrastructure.Telemetry.DeliveryFigures>().Table;
        await figures.AddEntityAsync(new TableEntity(Portal.ToString(System.Globalization.CultureInfo.InvariantCulture), "3-days") { ["Minute"] = time.GetUtcNow().AddDays(-3) });
        await figures.AddEntityAsync(new TableEntity(Portal.ToString(System.Globalization.CultureInfo.InvariantCulture), "1-day") { ["Minute"] = time.GetUtcNow().AddDays(-1) });
        Assert.Equal(QuotaTake.Taken, await quotas.TakeMediaMadeAsync(Portal, 10, 10, CancellationToken.None));
        var result = await relay.GetRequiredService<RetentionService>().DeleteExpiredAsync(CancellationToken.None);

        Assert.Equal(["1-day"], figures.Query<TableEntity>().Select(e => e.RowKey));
        Assert.All(quotas.Table.Query<TableEntity>().ToList(), row => Assert.StartsWith("media-made-", row.RowKey, StringComparison.Ordinal));
        if (undeliveredDays == 0)
        {
            // No dead letter goes without an operator, nor the session it would be replayed into; poisoned messages hold
            // viewers' beacons and go after their own retention (Relay__PoisonedRetentionDays, 30) whatever this says.
            Assert.Equal(new RetentionResult(Sessions: 1, DeadLetters: 0, Poisoned: 1, MetricRows: 1, QuotaRows: 1), result);
            Assert.Equal(["old-open", "old-owed", "old-refused", "young-delivered"], sessions.Table.Query<TableEntity>().Select(e => Uri.UnescapeDataString(e.RowKey)).Order());
            Assert.Equal(["old-refused", "young-delivered"], deadLetters.Table.Query<TableEntity>().Select(e => e.GetString("SessionId")).Order());
            Assert.Equal(["young-message"], poisoned.Table.Query<TableEntity>().Select(e => e.RowKey));
        }
        else
        {
            // After their own 35 days the undelivered go, and the session of the letter with them.
            Assert.Equal(new RetentionResult(Sessions: 2, DeadLetters: 1, Poisoned: 1, MetricRows: 1, QuotaRows: 1), result);
            Assert.Equal(["old-open", "old-owed", "young-delivered"], sessions.Table.Query<TableEntity>().Select(e => Uri.UnescapeDataString(e.RowKey)).Order());
            Assert.Equal(["young-delivered"], deadLetters.Table.Query<TableEntity>().Select(e => e.GetString("SessionId")));
            Assert.Equal(["young-message"], poisoned.Table.Query<TableEntity>().Select(e => e.RowKey));
        }

        Assert.Equal(new RetentionResult(0, 0, 0, 0), await relay.GetRequiredService<RetentionService>().DeleteExpiredAsync(CancellationToken.None));

        ViewingSession Session(string id, bool closed)
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var session = new ViewingSession(Portal, id);
            session.Merge(new Beacon(Portal, id, BeaconEvent.Play, now, Seq: 0, Position: 0), now, 100);
            if (closed)
                session.Close(CloseReason.Idle, now);
            return session;
        }
    }

    [Fact]
    public async Task A_session_whose_id_is_kept_hashed_stays_while_a_dead_letter_of_it_is_kept()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(-40));
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        await using var relay = await IsolatedRelay.StartServicesAsync(settings, services => services.AddSingleton<TimeProvider>(time));
        var sessions = relay.GetRequiredService<SessionRepository>();
        // 128 characters that escape past what a row key holds: the row key is the id's hash (%%...), the id a property.
        var id = new string('視', 128);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var session = new ViewingSession(Portal, id);
        session.Merge(new Beacon(Portal, id, BeaconEvent.Play, now, Seq: 0, Position: 0), now, 100);
        session.Close(CloseReason.Idle, now);
        await sessions.SaveAsync(session, null, CancellationToken.None);
        Assert.StartsWith("%%", SessionRepository.RowKey(id), StringComparison.Ordinal);
        await relay.GetRequiredService<DeadLetterStore>().AddAsync(Portal, id, new PendingEvent("played", MediaEventKind.Played, "{}"), 400, "refused", CancellationToken.None);

        time.Advance(TimeSpan.FromDays(40));
        var result = await relay.GetRequiredService<RetentionService>().DeleteExpiredAsync(CancellationToken.None);

        Assert.Equal(0, result.Sessions);
        Assert.NotNull(await sessions.GetAsync(Portal, id, CancellationToken.None));
    }
}
