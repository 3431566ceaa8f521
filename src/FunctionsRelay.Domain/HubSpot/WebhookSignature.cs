using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace FunctionsRelay.Domain.HubSpot;

/// <summary>
/// HubSpot's v3 request signature (<c>X-HubSpot-Signature-v3</c>, docs/hubspot.md "Privacy deletions"): the base64
/// HMAC-SHA256, under the app's client secret, of method + URI + body + <c>X-HubSpot-Request-Timestamp</c> (ms), the URI
/// as HubSpot called it with a few percent-escapes of its query decoded; refused when the timestamp is more than five
/// minutes from now. Compared in constant time.
/// </summary>
public static class WebhookSignature
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);

    /// <summary>The escapes HubSpot's signing decodes in the query before it signs: %3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;.</summary>
    private static readonly (string Escaped, string Character)[] Decoded =
    [
        ("%3A", ":"), ("%2F", "/"), ("%3F", "?"), ("%40", "@"), ("%21", "!"), ("%24", "$"),
        ("%27", "'"), ("%28", "("), ("%29", ")"), ("%2A", "*"), ("%2C", ","), ("%3B", ";"),
    ];

    /// <summary>Why the request is not HubSpot's, in words that name no value; null: it is.</summary>
    public static string? Problem(string method, string uri, ReadOnlySpan<byte> body, string? timestamp, string? signature, string clientSecret, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(signature))
            return "X-HubSpot-Signature-v3 is missing";
        if (string.IsNullOrEmpty(timestamp))
            return "X-HubSpot-Request-Timestamp is missing";
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var sentAt))
            return "X-HubSpot-Request-Timestamp is not milliseconds since 1970";
        if (Math.Abs(now.ToUnixTimeMilliseconds() - sentAt) > MaxAge.TotalMilliseconds)
            return "X-HubSpot-Request-Timestamp is more than five minutes from now: a late or replayed request";
        Span<byte> given = stackalloc byte[32];
        if (!Convert.TryFromBase64String(signature, given, out var length) || length != 32)
            return "X-HubSpot-Signature-v3 is not a base64 HMAC-SHA256";
        return CryptographicOperations.FixedTimeEquals(given, Sign(method, uri, body, timestamp, clientSecret))
            ? null
            : "X-HubSpot-Signature-v3 does not match the request (signed with another secret, for another URL, or over another body)";
    }

    private static byte[] Sign(string method, string uri, ReadOnlySpan<byte> body, string timestamp, string clientSecret)
    {
        var prefix = Encoding.UTF8.GetBytes(method.ToUpperInvariant() + SignedUri(uri));
        var suffix = Encoding.UTF8.GetBytes(timestamp);
        var source = new byte[prefix.Length + body.Length + suffix.Length];
        prefix.CopyTo(source, 0);
        body.CopyTo(source.AsSpan(prefix.Length));
        suffix.CopyTo(source, prefix.Length + body.Length);
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(clientSecret), source);
    }

    /// <summary>The URI as HubSpot signs it: no fragment, and the listed escapes of its query decoded.</summary>
    public static string SignedUri(string uri)
    {
        var withoutFragment = uri.Split('#')[0];
        var query = withoutFragment.IndexOf('?', StringComparison.Ordinal);
        if (query < 0)
            return withoutFragment;
        var decoded = new StringBuilder(withoutFragment[(query + 1)..]);
        foreach (var (escaped, character) in Decoded)
            decoded.Replace(escaped, character);

        return withoutFragment[..(query + 1)] + decoded;
    }
}
