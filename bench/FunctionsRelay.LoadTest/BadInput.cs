using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace FunctionsRelay.LoadTest;

public sealed record BadInputResult(int Requests, IReadOnlyDictionary<int, int> ByStatus, IReadOnlyDictionary<string, int> ByKind, IReadOnlyList<string> Failures, TimeSpan Elapsed);

/// <summary>
/// Malformed, oversized, wrongly typed and hostile requests against the ingest endpoints (<c>/api/beacons</c> and the
/// mParticle source, <c>/api/sources/mparticle</c>): each must get a 4xx whose body names the problem, never a 5xx;
/// nothing may be enqueued, and the relay must keep serving.
/// </summary>
public static class BadInput
{
    private static readonly string Valid =
        """{"portalId":4242,"sessionId":"bad-input-probe","seq":0,"event":"play","ts":TS,"position":0,"duration":60,"media":{"externalId":"m"},"contact":{"utk":"u"}}""";

    /// <summary>A value of the wrong type, or out of range, for each field.</summary>
    private static readonly (string Field, string Value)[] WrongTypes =
    [
        ("portalId", "\"abc\""), ("portalId", "true"), ("portalId", "-5"), ("portalId", "0"), ("sessionId", "5"), ("sessionId", "[]"),
        ("sessionId", "\"\""), ("event", "7"), ("event", "null"), ("ts", "\"yesterday\""), ("ts", "{}"), ("position", "\"abc\""),
        ("position", "[]"), ("position", "-1"), ("media", "\"m\""), ("media", "5"), ("contact", "[1]"), ("contact", "true"),
        ("seq", "-1"), ("seq", "1.5"), ("duration", "0"), ("duration", "\"long\""),
    ];

    /// <summary>Where a case is posted, with what <c>Authorization</c> (null: none).</summary>
    public sealed record Target(string Path, string? Authorization);

    public const string SourcePath = "/api/sources/mparticle";

    /// <summary>An mParticle source batch of one Play event of <paramref name="portalId"/> (or of the key's portal), as the Webhook output sends it.</summary>
    private static string SourceBatch(long now, string identities, string? portalId = null, string contentDuration = "60000")
    {
        var portal = portalId is null ? "" : $",\"hubspot_portal_id\":\"{portalId}\"";
        var attributes = $"{{\"media_session_id\":\"bad-source\",\"content_id\":\"c\",\"content_duration\":\"{contentDuration}\",\"playhead_position\":\"0\"{portal}}}";
        return $"{{\"events\":[{{\"event_type\":\"custom_event\",\"data\":{{\"custom_event_type\":\"media\",\"event_name\":\"Play\",\"timestamp_unixtime_ms\":{now},\"custom_attributes\":{attributes}}}}}],\"user_identities\":{identities},\"mpid\":1}}";
    }
    /// <summary>
    /// The cases, a third of them for the mParticle source with the portal's real secret key (bodies a source can never
    /// have accepted) or with keys that are not its (missing, malformed, forged, another portal's).
    /// </summary>
    public static IReadOnlyList<(string Kind, string ContentType, byte[] Body, Target Target)> Cases(int count, int seed, string secretKey)
    {
        var beacons = new Target("/api/beacons", null);
        var source = new Target(SourcePath, $"Bearer {secretKey}");
        var sourceNow = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var tooLarge = new Lazy<byte[]>(() => Encoding.UTF8.GetBytes("[" + SourceBatch(sourceNow, "[]") + "]" + new string(' ', (4 * 1024 * 1024) + 1)));
        var sourceGenerators = new (string Kind, Func<int, (string ContentType, byte[] Body, Target Target)> Make)[]
        {
            ("source: no or a wrong key", i => ("application/json", Encoding.UTF8.GetBytes(SourceBatch(sourceNow, "[]")),
                new Target(SourcePath, Pick<string?>(i, null, "", "Bearer", "Bearer pk_abc", "Basic !!!", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("user:pass")),
                    $"Bearer sk_1000_00000000_{new string('x', 43)}", $"Bearer {secretKey}x", "Bearer sk_99999999999999999999_00000000_x", $"Bearer sk_1000_{new string('0', 200)}")))),
            ("source: bad identities", i => ("application/json", Encoding.UTF8.GetBytes(SourceBatch(sourceNow, Pick(i,
                "\"me@example.com\"", "5", "[7]", "{\"email\":\"not-an-email\"}", "[{\"identity_type\":\"email\",\"identity\":\"x@\"}]",
                $"{{\"email\":\"{new string('a', 300)}@example.com\"}}", "[{\"identity_type\":\"email\",\"identity\":5}]"))), source)),
            ("source: another portal", i => ("application/json", Encoding.UTF8.GetBytes(SourceBatch(sourceNow, "[]", Pick(i, "1001", "0", "-4", "abc"))), source)),
            ("source: wrong shape", i => ("application/json", Encoding.UTF8.GetBytes(Pick(i, "42", "\"text\"", "null", "[]", "[7]", "{\"events\":5}", "{\"events\":[7]}", "[{\"events\":{}}]", "{\"events\":[{\"event_type\":\"custom_event\",\"data\":{\"custom_event_type\":\"media\",\"event_name\":\"Play\"}}]}")), source)),
            ("source: bad media attributes", i => ("application/json", Encoding.UTF8.GetBytes(SourceBatch(sourceNow, "[]", contentDuration: Pick(i, "abc", "-5", "NaN", "1e400"))), source)),
            // A backend's request is bounded by bytes (Beacons__MaxSourceBodyBytes, 4 MiB), not by a page's session count.
            ("source: too large", _ => ("application/json", tooLarge.Value, source)),
        };
        var random = new Random(seed);
        return Cases(count - (count / 3), random).Select(c => (c.Kind, c.ContentType, c.Body, beacons))
            .Concat(Enumerable.Range(0, count / 3).Select(i =>
            {
                var (kind, make) = sourceGenerators[(i + random.Next(sourceGenerators.Length)) % sourceGenerators.Length];
                var (contentType, body, target) = make(i);
                return (kind, contentType, body, target);
            }))
            .OrderBy(_ => random.Next())
            .ToList();
    }

    private static IReadOnlyList<(string Kind, string ContentType, byte[] Body)> Cases(int count, Random random)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        string Beacon(string field, string value) =>
            Valid.Replace("TS", now.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
                .Replace($"\"{field}\":", $"\"{field}\":{value},\"_was\":", StringComparison.Ordinal);
        var generators = new (string Kind, Func<int, (string ContentType, byte[] Body)> Make)[]
        {
            ("truncated JSON", i => ("application/json", Encoding.UTF8.GetBytes(Beacon("seq", "0")[..(10 + (i % 80))]))),
            ("not JSON", i => ("text/plain", Encoding.UTF8.GetBytes(Pick(i, "hello", "<xml/>", "{{}}", "[1,2,", "{'a':1}", "undefined", "\u0000\u0001")))),
            ("empty body", _ => ("application/json", [])),
            ("deep nesting", i => ("application/json", Encoding.UTF8.GetBytes(new string('[', 20 + (i % 5000)) + new string(']', 20 + (i % 5000))))),
            ("huge number", i => ("application/json", Encoding.UTF8.GetBytes(Beacon(Pick(i, "position", "ts", "portalId", "seq", "duration"), Pick(i, "1e400", "99999999999999999999999999", "-1e308", "1.7976931348623157e309"))))),
            ("NaN string", i => ("application/json", Encoding.UTF8.GetBytes(Beacon(Pick(i, "position", "duration", "ts"), Pick(i, "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "\"1e999\""))))),
            ("wrong type", i => ("application/json", Encoding.UTF8.GetBytes(Pick(i, WrongTypes) is var (field, value) ? Beacon(field, value) : ""))),
            ("unknown event", i => ("application/json", Encoding.UTF8.GetBytes(Beacon("event", $"\"evt{i}\"")))),
            ("invalid UTF-8", i => ("application/json", (byte[])[.. Encoding.UTF8.GetBytes("{\"sessionId\":\""), 0xC3, 0x28, (byte)(0x80 + (i % 64)), .. Encoding.UTF8.GetBytes("\"}")])),
            ("wrong content type", i => (Pick(i, "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "image/png", "application/octet-stream"), Encoding.UTF8.GetBytes(Beacon("seq", "0")))),
            ("oversized", i => ("application/json", Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Repeat(Beacon("seq", "0"), 1700 + (i % 300))) + "]"))),
            ("too many beacons", _ => ("application/json", Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Range(0, 501).Select(n => Beacon("seq", n.ToString(System.Globalization.CultureInfo.InvariantCulture)))) + "]"))),
            ("hostile strings", i => ("application/json", Encoding.UTF8.GetBytes(Beacon("sessionId", JsonSerializer.Serialize(i % 2 == 0 ? new string('s', 5000) : "a\u0000b\u001bc"))))),
            ("future ts", i => ("application/json", Encoding.UTF8.GetBytes(Beacon("ts", (now + 3 * 86_400_000L + i).ToString(System.Globalization.CultureInfo.InvariantCulture))))),
            ("wrong shape", i => ("application/json", Encoding.UTF8.GetBytes(Pick(i, "42", "\"text\"", "null", "true", "{\"beacons\":5}", "{\"events\":{}}", "[[]]", "{}")))),
            ("bad mParticle", i => ("application/json", Encoding.UTF8.GetBytes(
                $"{{\"event_type\":\"custom_event\",\"data\":{{\"custom_event_type\":\"media\",\"event_name\":\"Play\",\"timestamp_unixtime_ms\":\"{now}\",\"custom_attributes\":{{\"media_session_id\":\"s{i}\",\"content_id\":\"c\",\"content_duration\":\"{Pick(i, "abc", "-5", "NaN", "1e400")}\",\"playhead_position\":\"0\",\"hubspot_portal_id\":\"4242\",\"hubspotutk\":\"u\"}}}}}}"))),
        };

        return Enumerable.Range(0, count).Select(i =>
        {
            var (kind, make) = generators[(i + random.Next(generators.Length)) % generators.Length];
            var (contentType, body) = make(i);
            return (kind, contentType, body);
        }).ToList();
    }

    public static async Task<BadInputResult> RunAsync(HttpClient http, Uri relay, int count, int seed, int concurrency, string secretKey)
    {
        var cases = Cases(count, seed, secretKey);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var byStatus = new Dictionary<int, int>();
        var byKind = new Dictionary<string, int>();
        var failures = new List<string>();
        using var gate = new SemaphoreSlim(concurrency);
        await Task.WhenAll(cases.Select(async c =>
        {
            await gate.WaitAsync();
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(relay, c.Target.Path)) { Content = new ByteArrayContent(c.Body) };
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(c.ContentType);
                if (c.Target.Authorization is not null)
                    request.Headers.TryAddWithoutValidation("Authorization", c.Target.Authorization);
                using var answer = await http.SendAsync(request);
                var text = await answer.Content.ReadAsStringAsync();
                var problem = Problem(answer.StatusCode, text)
                    ?? (text.Contains(secretKey, StringComparison.Ordinal) || text.Contains("@example.com", StringComparison.OrdinalIgnoreCase)
                        ? $"{(int)answer.StatusCode} shows the secret key or an email it was sent" : null);
                lock (byStatus)
                {
                    byStatus[(int)answer.StatusCode] = byStatus.GetValueOrDefault((int)answer.StatusCode) + 1;
                    byKind[c.Kind] = byKind.GetValueOrDefault(c.Kind) + 1;
                    if (problem is not null && failures.Count < 20)
                        failures.Add($"{c.Kind}: {problem}");
                    else if (problem is not null)
                        failures.Add("...");
                }
            }
            finally
            {
                gate.Release();
            }
        }));

        return new BadInputResult(count, byStatus, byKind, failures.Distinct().ToList(), System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    /// <summary>After the storm: the health check answers and a valid beacon is still accepted.</summary>
    /// <summary>Whether the relay still answers its health check and accepts a valid beacon of a connected portal with its key.</summary>
    public static async Task<bool> StillServingAsync(HttpClient http, Uri relay, long portalId, string key)
    {
        using var health = await http.GetAsync(new Uri(relay, "/api/health"));
        // A pause alone: a valid beacon of a connected portal that gives HubSpot nothing (the session never plays), so the
        // audit of the load that follows sees only the players' sessions.
        var good = Encoding.UTF8.GetBytes(Valid
            .Replace("\"event\":\"play\"", "\"event\":\"pause\"", StringComparison.Ordinal)
            .Replace("TS", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("4242", portalId.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(relay, "/api/beacons")) { Content = new ByteArrayContent(good) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-Relay-Key", key);
        using var accepted = await http.SendAsync(request);
        return health.StatusCode == HttpStatusCode.OK && accepted.StatusCode == HttpStatusCode.Accepted;
    }

    /// <summary>What is wrong with an answer to a bad request, or null: it must be a 4xx with errors that each name a field.</summary>
    private static string? Problem(HttpStatusCode status, string body)
    {
        if ((int)status is < 400 or >= 500)
            return $"answered {(int)status}: {Truncate(body)}";
        try
        {
            var errors = JsonDocument.Parse(body).RootElement.GetProperty("errors");
            if (errors.GetArrayLength() == 0)
                return $"{(int)status} with no error listed";
            foreach (var error in errors.EnumerateArray())
            {
                var text = error.GetString() ?? "";
                if (!text.Contains(": ", StringComparison.Ordinal))
                    return $"{(int)status} error names no field: {Truncate(text)}";
            }

            return null;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return $"{(int)status} without a JSON error list: {Truncate(body)}";
        }
    }

    private static T Pick<T>(int i, params T[] choices) => choices[i % choices.Length];

    private static string Truncate(string text) => text.Length <= 200 ? text : text[..200] + "...";
}
