using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using FunctionsRelay.Benchmarks;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.LoadTest;

public sealed record PlannedSession(long PortalId, string SessionId, List<Beacon> Beacons, bool Ends);

/// <summary>Simulated players: each session posts its beacons in batches, a heartbeat's worth of time apart, compressed.</summary>
/// <remarks>Each request shows its portal's publishable key, as a player's page does.</remarks>
/// <remarks>With several relay instances, session i posts to instance i mod n, as a load balancer would spread them.</remarks>
/// <remarks>Each session's viewer has an address of its own (<c>X-Forwarded-For</c> 10.x.y.z), as real viewers do.</remarks>
public sealed class Players(HttpClient http, IReadOnlyList<Uri> beaconUrls, IReadOnlyDictionary<long, string> keys, LoadOptions options)
{
    private long _acceptedBeacons;
    private long _requests;
    private long _retries;
    private long _refused;
    private long _firstSendTicks;
    private long _lastAcceptTicks;

    public ConcurrentDictionary<string, long> PlaySentTicks { get; } = new();

    public ConcurrentDictionary<string, long> EndSentTicks { get; } = new();

    public long AcceptedBeacons => Interlocked.Read(ref _acceptedBeacons);

    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests sent again after a 5xx or a refused connection (the relay or storage down).</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Requests answered 4xx: a valid player must never get one.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public TimeSpan SendingTime => Stopwatch.GetElapsedTime(_firstSendTicks, _lastAcceptTicks);

    public long FirstSendTicks => _firstSendTicks;

    public static List<PlannedSession> Plan(LoadOptions options)
    {
        var random = new Random(options.Seed);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var sessions = new List<PlannedSession>(options.Sessions);
        for (var i = 0; i < options.Sessions; i++)
        {
            var portalId = 1000 + (i % options.Portals);
            var sessionId = $"load-{options.Seed}-{i:D6}";
            var ends = random.NextDouble() >= options.NeverEndShare;
            var count = random.Next(options.MinBeacons, options.MaxBeacons + 1);
            var duration = random.Next(60, 1800);
            // With --new-media, each portal's sessions play that many media the relay has not met, in turn.
            var media = options.NewMedia > 0
                ? Viewers.Media with { ExternalId = $"bench-video-{i / options.Portals % options.NewMedia}", Url = $"https://cdn.example.com/bench-{i / options.Portals % options.NewMedia}.mp4" }
                : null;
            var beacons = Viewers.Session(portalId, sessionId, count, duration, random, ends: ends, startTs: now - random.Next(3_600_000, 7_200_000), media: media);
            sessions.Add(new PlannedSession(portalId, sessionId, beacons, ends));
        }

        return sessions;
    }

    public Task RunAsync(IReadOnlyList<PlannedSession> sessions, CancellationToken cancellationToken)
    {
        _firstSendTicks = Stopwatch.GetTimestamp();
        var spacing = options.RampSeconds / sessions.Count;
        return Task.WhenAll(sessions.Select((session, i) => PlayAsync(session, beaconUrls[i % beaconUrls.Count], ViewerAddress(i), TimeSpan.FromSeconds(i * spacing), cancellationToken)));
    }

    private static string ViewerAddress(int i) => $"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}";

    private async Task PlayAsync(PlannedSession session, Uri beaconUrl, string address, TimeSpan startAfter, CancellationToken cancellationToken)
    {
        await Task.Delay(startAfter, cancellationToken);
        for (var at = 0; at < session.Beacons.Count; at += options.Batch)
        {
            var batch = session.Beacons.GetRange(at, Math.Min(options.Batch, session.Beacons.Count - at));
            if (batch.Any(b => b.Event == BeaconEvent.Play))
                PlaySentTicks.TryAdd(session.SessionId, Stopwatch.GetTimestamp());
            if (batch.Any(b => b.Event == BeaconEvent.End))
                EndSentTicks.TryAdd(session.SessionId, Stopwatch.GetTimestamp());
            await SendUntilAcceptedAsync(beaconUrl, Viewers.Envelope(batch), batch.Count, keys[session.PortalId], address, cancellationToken);
            // The beacons of the next batch happen a heartbeat (compressed) each later.
            await Task.Delay(options.HeartbeatInterval * batch.Count, cancellationToken);
        }
    }

    private async Task SendUntilAcceptedAsync(Uri beaconUrl, byte[] body, int beacons, string key, string address, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0)
            {
                Interlocked.Increment(ref _retries);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 * attempt)), cancellationToken);
            }

            Interlocked.Increment(ref _requests);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, beaconUrl) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
                request.Headers.Add("X-Relay-Key", key);
                request.Headers.Add("X-Forwarded-For", address);
                using var answer = await http.SendAsync(request, cancellationToken);
                if (answer.StatusCode == HttpStatusCode.Accepted)
                {
                    Interlocked.Add(ref _acceptedBeacons, beacons);
                    Interlocked.Exchange(ref _lastAcceptTicks, Stopwatch.GetTimestamp());
                    return;
                }

                if ((int)answer.StatusCode < 500)
                {
                    Interlocked.Increment(ref _refused);
                    Console.Error.WriteLine($"refused: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(cancellationToken)}");
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // The relay is down (killed and restarting): like the player script, send again.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
        }
    }
}
