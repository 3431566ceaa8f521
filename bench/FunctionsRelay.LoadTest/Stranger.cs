using System.Collections.Concurrent;
using System.Net.Http.Headers;
using FunctionsRelay.Benchmarks;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Testing;

namespace FunctionsRelay.LoadTest;

/// <summary>
/// A stranger holding a portal's publishable key (issue #35; portal 1000's, the real viewers', unless told otherwise), sending from one address beside the real players: each
/// request names 20 made-up sessions of a whole short view (played, every quartile, an attention span), in turn
/// <list type="bullet">
/// <item>with the utk of a real contact (a visitor who once filled in a form on the customer's site),</item>
/// <item>with that utk and a media id the portal has never had, a new one each session,</item>
/// <item>with a made-up utk each session, which HubSpot knows as no contact.</item>
/// </list>
/// </summary>
public sealed class Stranger(HttpClient http, IReadOnlyList<Uri> beaconUrls, long portalId, string key, FakeHubSpot hubSpot, double requestsPerSecond)
{
    public const string Address = "198.51.100.66";
    public const string SessionPrefix = "stranger-";
    public const string KnownUtk = "utk-of-a-real-contact";
    public const string MediaPrefix = "stranger-video-";
    private const string MadeUpUtkPrefix = "utk-stranger-";
    private const int SessionsPerRequest = 20;

    private static readonly string[] Tricks = ["known utk", "new media", "made-up utks"];

    private readonly ConcurrentDictionary<string, int> _answers = new();
    private int _requests;

    public ConcurrentBag<string> SessionIds { get; } = [];

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Requests by trick and answer, e.g. <c>known utk 202</c>.</summary>
    public IReadOnlyDictionary<string, int> Answers => _answers;

    /// <summary>Whether a HubSpot call was made for the stranger: his sessions' events, his utks' look-ups, his media.</summary>
    public static bool Made(HubSpotCall call) => call.Subject is { } subject
        && (subject.StartsWith(SessionPrefix, StringComparison.Ordinal) || subject.StartsWith(MadeUpUtkPrefix, StringComparison.Ordinal)
            || subject == KnownUtk || subject.StartsWith(MediaPrefix, StringComparison.Ordinal));

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(1 / requestsPerSecond);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var random = new Random(66);
        try
        {
            for (var n = 0; !cancellationToken.IsCancellationRequested; n++)
            {
                var trick = Tricks[n % Tricks.Length];
                var beacons = new List<Beacon>();
                for (var s = 0; s < SessionsPerRequest; s++)
                {
                    var sessionId = $"{SessionPrefix}{n:D4}-{s:D2}";
                    var (utk, media) = trick switch
                    {
                        "known utk" => (KnownUtk, Viewers.Media),
                        "new media" => (KnownUtk, Viewers.Media with { ExternalId = $"{MediaPrefix}{n:D4}-{s:D2}", Url = $"https://cdn.example.com/stranger-{n}-{s}.mp4" }),
                        _ => (MadeUpUtkPrefix + Guid.NewGuid().ToString("N"), Viewers.Media),
                    };
                    if (trick == "made-up utks")
                        hubSpot.AnonymousUtks[utk] = true;
                    // A minute's view seen whole: start, play, five heartbeats, ended, end.
                    var session = Viewers.Session(portalId, sessionId, 9, 60, random, startTs: now - random.Next(60_000, 3_600_000), media: media);
                    beacons.AddRange(session.Select(b => b.Contact is null ? b : b with { Contact = new ContactInfo(null, utk) }));
                    SessionIds.Add(sessionId);
                }

                await PostAsync(trick, beaconUrls[n % beaconUrls.Count], Viewers.Envelope(beacons), cancellationToken);
                await Task.Delay(interval, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task PostAsync(string trick, Uri beaconUrl, byte[] body, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        using var request = new HttpRequestMessage(HttpMethod.Post, beaconUrl) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        request.Headers.Add("X-Relay-Key", key);
        request.Headers.Add("X-Forwarded-For", Address);
        string answer;
        try
        {
            using var response = await http.SendAsync(request, cancellationToken);
            answer = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // He does not wait for an answer (nor send again): a request the relay took longer than the client's timeout
            // over is counted, not the end of the run.
            answer = "no answer";
        }

        _answers.AddOrUpdate($"{trick} {answer}", 1, (_, count) => count + 1);
    }
}
