using System.Text;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;

namespace FunctionsRelay.Domain.Tests;

/// <summary>Batches as mParticle's Webhook output forwards them, read for the portal of the source's key.</summary>
public class MParticleSourceParserTests
{
    private const long KeyPortal = 4242;
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(SessionScript.T0);

    private const string PlayEvent = """
        {"event_type":"custom_event","data":{"custom_event_type":"media","event_name":"Play","timestamp_unixtime_ms":1760000000000,
         "custom_attributes":{"content_id":"ep-1","content_title":"Episode","content_duration":"60000","media_session_id":"roku-1","playhead_position":"1000"}}}
        """;

    private static BeaconBatch Parse(string body) =>
        new BeaconParser(new BeaconLimits()).ParseMParticleBatches(Encoding.UTF8.GetBytes(body), Now, KeyPortal);

    private static string Batch(string identities, string attributes = "{}", string events = PlayEvent) =>
        $$"""{"events":[{{events}}],"user_identities":{{identities}},"user_attributes":{{attributes}},"mpid":1,"environment":"production"}""";

    [Fact]
    public void An_outputs_identity_array_names_the_viewer_by_email_lower_cased_for_the_keys_portal()
    {
        var beacon = Assert.Single(Parse(Batch("""[{"identity_type":"customer_id","identity":"c-9"},{"identity_type":"email","identity":" Viewer@Example.COM "}]""")).Beacons);

        Assert.Equal((KeyPortal, "roku-1", "viewer@example.com", 1.0), (beacon.PortalId, beacon.SessionId, beacon.Contact!.Email, beacon.Position!.Value));
        Assert.DoesNotContain("viewer@example.com", beacon.Contact.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void The_events_apis_identity_object_and_a_customer_id_that_is_an_email_name_the_viewer_too()
    {
        Assert.Equal("a@example.com", Assert.Single(Parse(Batch("""{"email":"a@example.com","customer_id":"c-1"}""")).Beacons).Contact!.Email);
        Assert.Equal("b@example.com", Assert.Single(Parse(Batch("""{"customer_id":"B@example.com"}""")).Beacons).Contact!.Email);
        Assert.Null(Assert.Single(Parse(Batch("""{"customer_id":"c-1"}""")).Beacons).Contact);
    }

    [Fact]
    public void User_attributes_name_the_hubspot_contact_and_the_utk()
    {
        var contact = Assert.Single(Parse(Batch("[]", """{"hubspot_contact_id":"901","hubspotutk":"utk-1"}""")).Beacons).Contact!;

        Assert.Equal((901L, "utk-1"), (contact.ContactId!.Value, contact.Utk));
    }

    [Fact]
    public void An_array_of_batches_keeps_each_batchs_viewer_to_its_own_events()
    {
        var second = PlayEvent.Replace("roku-1", "roku-2", StringComparison.Ordinal);
        var body = $"[{Batch("""{"email":"one@example.com"}""")},{Batch("""{"email":"two@example.com"}""", events: second)}]";

        var viewers = Parse(body).Beacons.Select(b => (b.SessionId, b.Contact!.Email)).ToList();

        Assert.Equal([("roku-1", "one@example.com"), ("roku-2", "two@example.com")], viewers);
    }

    [Fact]
    public void A_batch_without_media_events_is_counted_and_refuses_nothing()
    {
        const string screenView = """{"events":[{"event_type":"screen_view","data":{"screen_name":"Home"}}]}""";
        var batch = Parse($$"""[{{screenView}},{"events":[]},{{Batch("[]")}}]""");

        Assert.Equal((true, 1, 2, 1), (batch.IsValid, batch.Beacons.Count, batch.BatchesWithoutMedia, batch.Ignored));
    }

    [Theory]
    [InlineData("""{"email":"not-an-email"}""", "user_identities.email: is not an email address (local-part@domain, at most 254 characters)")]
    [InlineData("""[{"identity_type":"email","identity":"x@"}]""", "user_identities[0].identity: is not an email address (local-part@domain, at most 254 characters)")]
    [InlineData("""[7]""", "user_identities[0]: must be an object with identity_type and identity")]
    [InlineData("\"me\"", "user_identities: must be an object or an array of identities (got a string)")]
    public void A_malformed_identity_is_refused_by_its_field_without_its_value(string identities, string expected)
    {
        var batch = Parse(Batch(identities));

        Assert.Equal(expected, Assert.Single(batch.Errors).ToString());
        Assert.Empty(batch.Beacons);
    }

    [Fact]
    public void An_event_of_another_portal_is_refused_and_its_summary_ignored()
    {
        var foreign = PlayEvent.Replace("\"media_session_id\"", "\"hubspot_portal_id\":\"5252\",\"media_session_id\"", StringComparison.Ordinal);
        var summary = """{"event_type":"custom_event","data":{"custom_event_type":"media","event_name":"Media Session Summary","timestamp_unixtime_ms":1760000000000,"custom_attributes":{"media_session_id":"roku-1","media_content_time_spent":"5000","hubspot_portal_id":"5252"}}}""";

        Assert.Equal(
            "events[0].data.custom_attributes.hubspot_portal_id: is 5252, but the source key is portal 4242's: a source posts only its own portal's events",
            Assert.Single(Parse(Batch("[]", events: foreign)).Errors).ToString());
        var withSummary = Parse(Batch("[]", events: $"{PlayEvent},{summary}"));
        Assert.Equal((1, 0, 1), (withSummary.Beacons.Count, withSummary.Summaries.Count, withSummary.Ignored));
    }

    [Theory]
    [InlineData("", "body: is empty; send an mParticle event batch {\"events\":[...]} or an array of batches")]
    [InlineData("[]", "body: must hold at least one batch")]
    [InlineData("7", "body: must be an mParticle event batch {\"events\":[...]} or an array of batches (got a number)")]
    [InlineData("[7]", "[0]: must be an mParticle event batch object (got a number)")]
    [InlineData("""{"events":{}}""", "events: must be an array (got an object)")]
    [InlineData("""{"events":[7]}""", "events[0]: must be an mParticle event: an object with event_type and data")]
    public void Bodies_of_the_wrong_shape_are_refused_by_name(string body, string expected)
    {
        Assert.Equal(expected, Parse(body).Errors[0].ToString());
    }
}
