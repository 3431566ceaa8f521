using System.Net;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using FunctionsRelay.Domain.Beacons;
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
