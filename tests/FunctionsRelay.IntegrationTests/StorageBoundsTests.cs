using System.Net;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// Input that passes validation fits storage: a row key of 1 KiB at most, a queue message of 64 KiB, a table entity of
/// 1 MiB. Each case is the largest the validation lets through, made of the characters that grow most when encoded.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class StorageBoundsTests(Azurite azurite) : WithFakeHubSpot
{
    private const long Portal = 8181;

    /// <summary>An emoji: two UTF-16 characters, escaped by JSON to 12 bytes.</summary>
    private const string Emoji = "\U0001F600";

    [Fact]
    public async Task A_session_id_of_128_non_ascii_characters_is_accepted_and_delivered()
    {
        using var host = new RelayHost(azurite, HubSpot);
        await HubSpot.ConnectPortalAsync(host.Service<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));
        // 128 characters that escape to 9 each in a row key: 1,152, past the 1,024 a row key holds.
        var sessionId = new string('視', 128);
        var session = SessionBeacons.Typical(Portal, sessionId);

        var answer = await host.Client.PostAsync("/api/beacons", session.Content());

        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        await host.EventuallyAsync(() => HubSpot.EventsOf(sessionId).Any(e => e.Key == "attention-span"), "the session's events reach HubSpot");
        Assert.Equal(session.ExpectedEvents(), HubSpot.EventsOf(sessionId).Select(e => (e.Key, e.ProviderPayload)).ToList());
    }

    [Fact]
    public async Task A_beacon_too_large_for_a_queue_message_is_refused_with_a_400_and_nothing_of_the_request_is_queued()
    {
        using var host = new RelayHost(azurite, HubSpot);
        var fine = SessionBeacons.Typical(Portal, "fine-session").Beacons;
        // Every string at the 2,048 characters validation allows, of emoji: far more than a queue message holds.
        var huge = MaxedBeacon("huge-session", 1024, Emoji);

        var answer = await host.Client.PostAsync("/api/beacons", new StringContent(SessionBeacons.Json([.. fine, huge]), Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
        var error = Assert.Single(JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("errors").EnumerateArray()).GetString()!;
        Assert.Matches("^the play beacon \\(seq 0\\) of session huge-session: is [0-9]+ bytes once queued; at most 48000 are accepted", error);
        Assert.Null((await host.Service<BeaconQueue>().Queue.PeekMessageAsync()).Value);
    }

    [Theory]
    [InlineData(Emoji)]
    [InlineData("\"")]
    [InlineData("\\")]
    [InlineData("<")]
    [InlineData("é")]
    public async Task The_largest_session_validation_lets_through_fits_one_table_entity(string character)
    {
        await using var relay = await IsolatedRelay.StartServicesAsync(IsolatedRelay.Settings(azurite, Path.GetTempFileName()));
        var options = new FunctionsRelay.Domain.Sessions.SessionOptions();
        // The longest strings of the character whose beacon still fits a queue message, a full log and every event decided.
        var length = Enumerable.Range(1, 2048 / character.Length).Last(n => !BeaconQueue.Oversized([Parse(MaxedBeacon("largest", n, character))]).Any());
        var first = Parse(MaxedBeacon(new string('視', 128), length, character));
        var session = new ViewingSession(Portal, first.SessionId);
        session.Merge(first, first.Ts, options.MaxLogEntries);
        for (var i = 1; i < options.MaxLogEntries; i++)
            session.Merge(first with { Event = BeaconEvent.Heartbeat, Seq = i, Ts = first.Ts + i * 1000, Position = Math.Min(i, 3600) }, first.Ts + i, options.MaxLogEntries);
        EventPlanner.CloseIfDue(session, first.Ts + options.MaxLogEntries + (long)options.IdleTimeout.TotalMilliseconds, options);
        var events = EventPlanner.Decide(session, options);
        Assert.Equal(7, events.Count);
        Assert.Equal(options.MaxLogEntries, session.Log.Count);

        var repository = relay.GetRequiredService<SessionRepository>();
        await repository.SaveAsync(session, null, CancellationToken.None);

        var entity = (await repository.Table.GetEntityAsync<TableEntity>(SessionRepository.PartitionKey(Portal), SessionRepository.RowKey(session.SessionId))).Value;
        var size = EntitySize(entity);
        Assert.True(size <= 1024 * 1024, $"the session's entity is {size} bytes: more than the 1 MiB Table Storage holds");
        var read = (await repository.GetAsync(Portal, session.SessionId, CancellationToken.None))!.Session;
        Assert.Equal(events.Select(e => e.Payload), read.Outbox.Select(e => e.Payload));
    }

    [Fact]
    public async Task Due_checks_of_sessions_with_the_longest_ids_are_swept_in_messages_a_queue_takes()
    {
        await using var relay = await IsolatedRelay.StartServicesAsync(IsolatedRelay.Settings(azurite, Path.GetTempFileName()));
        var waiting = relay.GetRequiredService<ScheduledCheckTable>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // 64 sessions of 128-character astral ids, each with a delivery check due now that carries a player's summary (a
        // check is its session and due time, nothing more) and a close check.
        var sessions = Enumerable.Range(0, 64).Select(i => i.ToString("D3", System.Globalization.CultureInfo.InvariantCulture) + string.Concat(Enumerable.Repeat(Emoji, 62)) + "x").ToList();
        foreach (var session in sessions)
        {
            await waiting.AddAsync(new RelayMessage(RelayMessageKind.Deliver, Portal, session, Reported: new PlaybackSummary(Portal, session, 10, true)), now - 2000, CancellationToken.None);
            await waiting.AddAsync(new RelayMessage(RelayMessageKind.CloseCheck, Portal, session), now - 1000, CancellationToken.None);
        }

        var swept = await relay.GetRequiredService<FunctionsRelay.Infrastructure.Processing.ScheduleSweeper>().SweepAsync(CancellationToken.None);

        Assert.Equal(128, swept);
        var queue = relay.GetRequiredService<BeaconQueue>().Scheduled;
        var checks = new List<RelayMessage>();
        while ((await queue.ReceiveMessagesAsync(32)).Value is { Length: > 0 } messages)
        {
            foreach (var message in messages)
            {
                // What the queue holds of it: the Base64 of its bytes, within the 64 KiB a message may be.
                Assert.InRange((message.Body.ToArray().Length + 2) / 3 * 4, 1, 64 * 1024);
                checks.AddRange(RelayMessage.Parse(message.Body).Checks!);
            }
        }

        Assert.Equal(sessions.SelectMany(session => new[] { (session, RelayMessageKind.CloseCheck), (session, RelayMessageKind.Deliver) }).Order(), checks.Select(c => (c.SessionId, c.Kind)).Order());
        Assert.All(checks, check => Assert.Null(check.Reported));
        Assert.Empty(await waiting.DueAsync(now + 60_000, 1000, CancellationToken.None));
    }

    [Fact]
    public async Task A_session_near_a_table_entitys_limit_takes_no_more_beacons_but_still_closes_with_every_event()
    {
        // A log limit an operator raised past what one entity holds (Sessions__MaxLogEntries is bounded below only), a
        // HubSpot app but no token for the portal: every decided event stays in the outbox, as big as the session gets.
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        foreach (var (key, value) in HubSpot.RelaySettings)
            settings[key] = value;
        settings["Sessions:MaxLogEntries"] = "100000";
        settings["Sessions:EndGracePeriod"] = "00:00:01";
        await using var relay = await IsolatedRelay.StartServicesAsync(settings);
        var sessionId = string.Concat(Enumerable.Repeat(Emoji, 64));
        // Three beacons, each as large as a queue message takes, each bringing other strings at their longest (the media's,
        // the page's, the viewer's), over a week's media played from its start to its end: every event is decided.
        var start = DateTimeOffset.UtcNow.AddDays(-8).ToUnixTimeMilliseconds();
        var media = Largest(n => MaxedFields(sessionId, 0, "play", start, 0, media: n));
        var page = Largest(n => MaxedFields(sessionId, 1, "heartbeat", start + (Week / 2), Week / 2000, page: n));
        var viewer = Largest(n => MaxedFields(sessionId, 2, "heartbeat", start + Week, Week / 1000, utk: n));
        var processor = relay.GetRequiredService<FunctionsRelay.Infrastructure.Processing.SessionProcessor>();
        await processor.HandleAsync(Message(sessionId, [media, page, viewer]), CancellationToken.None);

        // Then seeks across the week (the log entries that take the most bytes), 2,000 to a message, 80,000 in all.
        var (seq, ts) = (3L, start + Week + 1);
        for (var message = 0; message < 40; message++)
        {
            await processor.HandleAsync(
                Message(sessionId, [.. Enumerable.Range(0, 2000).Select(_ => new Beacon(Portal, sessionId, BeaconEvent.Seek, ts += 997, seq, (seq * 7_919_113 % Week) / 1000.0, (seq++ * 104_729_311 % Week) / 1000.0))]),
                CancellationToken.None);
        }

        // The end still closes it, however full: it adds a few bytes, in the room kept for what closing decides. The seeks
        // refused leave its seq numbers a gap, so it closes after the end's grace period, at its close check.
        await processor.HandleAsync(Message(sessionId, [new Beacon(Portal, sessionId, BeaconEvent.End, ts + 1000, seq, Week / 1000)]), CancellationToken.None);
        var repository = relay.GetRequiredService<SessionRepository>();
        var ending = (await repository.GetAsync(Portal, sessionId, CancellationToken.None))!.Session;
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, ending.CloseCheckAt - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) + 100));
        await processor.HandleAsync(new BinaryData(new RelayMessage(RelayMessageKind.CloseCheck, Portal, sessionId, DueAt: ending.CloseCheckAt).ToUtf8Json()), CancellationToken.None);

        var entity = (await repository.Table.GetEntityAsync<TableEntity>(SessionRepository.PartitionKey(Portal), SessionRepository.RowKey(sessionId))).Value;
        var size = EntitySize(entity);
        var stored = (await repository.GetAsync(Portal, sessionId, CancellationToken.None))!.Session;
        Assert.True(size <= 1024 * 1024, $"the session's entity is {size} bytes ({stored.Log.Count} log entries): more than the 1 MiB Table Storage holds");
        // Refused once it neared the limit (counted in the merge's warning; a message that only refuses saves nothing).
        Assert.InRange(stored.Log.Count, 3, 80_000);
        Assert.True(stored.IsClosed);
        Assert.Equal(EveryEvent, stored.Outbox.Select(pending => pending.Key).Order(StringComparer.Ordinal));
    }

    private static readonly string[] EveryEvent =
        [.. new[] { "played", "quartile-0", "quartile-25", "quartile-50", "quartile-75", "quartile-100", "attention-span" }.Order(StringComparer.Ordinal)];

    private static BinaryData Message(string sessionId, IReadOnlyList<Beacon> beacons) =>
        new(new RelayMessage(RelayMessageKind.Beacons, Portal, sessionId, beacons).ToUtf8Json());

    /// <summary>A week, in milliseconds: the longest media validation takes (<c>Beacons__MaxSeconds</c>).</summary>
    private const long Week = 7 * 24 * 3600 * 1000L;

    /// <summary>The largest beacon <paramref name="make"/> makes that still fits a queue message of its own.</summary>
    private static Beacon Largest(Func<int, string> make) =>
        Parse(make(Enumerable.Range(1, 1024).Last(n => Valid(make(n)) is { } beacon && !BeaconQueue.Oversized([beacon]).Any())));

    private static Beacon? Valid(string beacon)
    {
        var batch = new BeaconParser(new BeaconLimits()).Parse(Encoding.UTF8.GetBytes($"[{beacon}]"), DateTimeOffset.UtcNow);
        return batch.IsValid ? batch.Beacons[0] : null;
    }

    /// <summary>A beacon of an hour's media whose media, page or viewer strings are each <c>n</c> emoji (the characters that grow most encoded).</summary>
    private static string MaxedFields(string sessionId, long seq, string beaconEvent, long ts, double position, int media = 1, int page = 1, int utk = 1)
    {
        string Text(int n) => string.Concat(Enumerable.Repeat(Emoji, n));
        return JsonSerializer.Serialize(new
        {
            portalId = Portal, sessionId, seq, @event = beaconEvent, ts, position, duration = Week / 1000,
            media = new { externalId = Text(media), name = Text(media), url = "https://cdn.example.com/" + Text(Math.Max(0, media - 12)), type = "VIDEO" },
            contact = new { utk = Text(utk) },
            page = new { name = Text(page), url = "https://www.example.com/" + Text(Math.Max(0, page - 12)) },
        });
    }

    /// <summary>A play beacon with every string validation takes made of <paramref name="count"/> times <paramref name="character"/>.</summary>
    private static string MaxedBeacon(string sessionId, int count, string character)
    {
        var text = string.Concat(Enumerable.Repeat(character, count));
        var url = "https://cdn.example.com/" + text[..^Math.Min(text.Length, 24)];
        return JsonSerializer.Serialize(new
        {
            portalId = Portal, sessionId, seq = 0, @event = "play", ts = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds(), position = 0, duration = 3600,
            media = new { externalId = text, name = text, url, oembedUrl = url, thumbnailUrl = url, detailsUrl = url, type = "VIDEO" },
            contact = new { utk = text },
            page = new { name = text, url },
        });
    }

    private static Beacon Parse(string beacon)
    {
        var batch = new BeaconParser(new BeaconLimits()).Parse(Encoding.UTF8.GetBytes($"[{beacon}]"), DateTimeOffset.UtcNow);
        Assert.True(batch.IsValid, string.Join("; ", batch.Errors));
        return Assert.Single(batch.Beacons);
    }

    /// <summary>An entity's size as Table Storage counts it (4 bytes, the keys in UTF-16, each property's name and value).</summary>
    private static long EntitySize(TableEntity entity)
    {
        long size = 4 + (entity.PartitionKey.Length + entity.RowKey.Length) * 2;
        foreach (var (name, value) in entity)
        {
            if (name is "PartitionKey" or "RowKey" or "Timestamp" or "odata.etag")
                continue;
            size += 8 + name.Length * 2 + value switch
            {
                byte[] bytes => 4 + bytes.Length,
                string text => 4 + text.Length * 2,
                bool => 1,
                int => 4,
                long or double or DateTimeOffset => 8,
                _ => 16,
            };
        }

        return size;
    }
}
