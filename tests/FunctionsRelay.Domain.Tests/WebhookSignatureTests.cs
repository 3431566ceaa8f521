using System.Security.Cryptography;
using System.Text;
using FunctionsRelay.Domain.HubSpot;

namespace FunctionsRelay.Domain.Tests;

/// <summary>HubSpot's v3 signature as docs/hubspot.md reads its request validation page, and the webhook body.</summary>
public sealed class WebhookSignatureTests
{
    private const string Secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_000);
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""[{"eventId":1,"portalId":62515,"objectId":123,"subscriptionType":"contact.privacyDeletion"}]""");

    /// <summary>The signature as the page describes it, written out here apart from the relay's code.</summary>
    private static string Signed(string uri, string timestamp, byte[]? body = null) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes("POST" + uri + Encoding.UTF8.GetString(body ?? Body) + timestamp)));

    private static string At(TimeSpan offset) => (Now + offset).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void A_request_signed_with_the_client_secret_over_method_uri_body_and_timestamp_holds()
    {
        var timestamp = At(TimeSpan.FromMinutes(-4));
        Assert.Null(WebhookSignature.Problem("POST", "https://relay.example.com/api/hubspot/webhooks", Body, timestamp, Signed("https://relay.example.com/api/hubspot/webhooks", timestamp), Secret, Now));
    }

    [Fact]
    public void The_listed_escapes_of_the_query_are_decoded_before_signing_and_others_are_not()
    {
        var timestamp = At(TimeSpan.Zero);
        var signature = Signed("https://relay.example.com/api/hubspot/webhooks?next=https://a.example/x@y", timestamp);
        Assert.Null(WebhookSignature.Problem("POST", "https://relay.example.com/api/hubspot/webhooks?next=https%3A%2F%2Fa.example%2Fx%40y", Body, timestamp, signature, Secret, Now));
        Assert.Equal("https://r.example/a?b=%20c:", WebhookSignature.SignedUri("https://r.example/a?b=%20c%3A#fragment"));
    }

    [Theory]
    [InlineData(-6, "more than five minutes from now")]
    [InlineData(6, "more than five minutes from now")]
    public void A_timestamp_more_than_five_minutes_away_is_refused(int minutes, string problem)
    {
        var timestamp = At(TimeSpan.FromMinutes(minutes));
        Assert.Contains(problem, WebhookSignature.Problem("POST", "https://r.example/w", Body, timestamp, Signed("https://r.example/w", timestamp), Secret, Now), StringComparison.Ordinal);
    }

    [Fact]
    public void Another_secret_url_or_body_or_a_missing_or_malformed_header_is_refused_by_name()
    {
        var timestamp = At(TimeSpan.Zero);
        var good = Signed("https://r.example/w", timestamp);
        Assert.Contains("does not match", WebhookSignature.Problem("POST", "https://r.example/w", Body, timestamp, good, "another-secret", Now), StringComparison.Ordinal);
        Assert.Contains("does not match", WebhookSignature.Problem("POST", "https://r.example/other", Body, timestamp, good, Secret, Now), StringComparison.Ordinal);
        Assert.Contains("does not match", WebhookSignature.Problem("POST", "https://r.example/w", "[]"u8, timestamp, good, Secret, Now), StringComparison.Ordinal);
        Assert.Equal("X-HubSpot-Signature-v3 is missing", WebhookSignature.Problem("POST", "https://r.example/w", Body, timestamp, null, Secret, Now));
        Assert.Equal("X-HubSpot-Request-Timestamp is missing", WebhookSignature.Problem("POST", "https://r.example/w", Body, null, good, Secret, Now));
        Assert.Equal("X-HubSpot-Request-Timestamp is not milliseconds since 1970", WebhookSignature.Problem("POST", "https://r.example/w", Body, "soon", good, Secret, Now));
        Assert.Equal("X-HubSpot-Signature-v3 is not a base64 HMAC-SHA256", WebhookSignature.Problem("POST", "https://r.example/w", Body, timestamp, "c2hvcnQ=", Secret, Now));
    }

    [Fact]
    public void A_webhook_body_is_read_as_its_events_and_a_malformed_one_names_the_field()
    {
        var (events, problem) = WebhookEvents.Parse("""[{"eventId":1,"subscriptionId":2,"portalId":62515,"appId":54321,"occurredAt":1,"subscriptionType":"contact.privacyDeletion","attemptNumber":0,"objectId":123}]"""u8);
        Assert.Null(problem);
        Assert.Equal(new WebhookEvent(62515, 123, "contact.privacyDeletion", 54321), Assert.Single(events));
        Assert.Equal("body: must be a JSON array of events", WebhookEvents.Parse("""{"objectId":1}"""u8).Problem);
        Assert.Equal("[0].objectId: must be a positive integer", WebhookEvents.Parse("""[{"portalId":1,"objectId":"jane@example.com","subscriptionType":"contact.deletion"}]"""u8).Problem);
        Assert.Equal("body: is not JSON", WebhookEvents.Parse("nope"u8).Problem);
    }
}
