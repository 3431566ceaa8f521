using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace FunctionsRelay.IntegrationTests;

/// <summary>The stand-in HubSpot refuses what docs/hubspot.md says HubSpot refuses, over HTTP as the relay meets it.</summary>
public sealed class HubSpotContractTests : IAsyncLifetime, IDisposable
{
    private const string Valid = """
        {"mediaType":"VIDEO","occurredTimestamp":1763900000000,"sessionId":"s-1","state":"STARTED","contactUtk":"u-1","externalId":"v-1"}
        """;

    private FakeHubSpot _hubSpot = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _hubSpot = await FakeHubSpot.StartAsync();
        _client = new HttpClient { BaseAddress = _hubSpot.BaseUrl };
        _client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _hubSpot.IssueTokens(4242).AccessToken);
    }

    public void Dispose() => _client.Dispose();

    public async Task DisposeAsync()
    {
        // These tests send refused events on purpose.
        _hubSpot.Refused.Clear();
        await _hubSpot.DisposeAsync();
    }

    [Fact]
    public async Task A_valid_played_event_of_an_existing_media_object_is_accepted_and_kept()
    {
        var (created, _) = await PostAsync(MediaBridgeContract.ObjectsPath, """{"mediaType":"VIDEO","title":"Tour","externalId":"v-1","oembedUrl":"https://relay.test/api/oembed?url=x"}""");
        var (status, _) = await PostAsync(MediaBridgeContract.EventsPrefix + "media-played", Valid);

        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Accepted), (created, status));
        Assert.Equal("played", Assert.Single(_hubSpot.Received).Key);
    }

    [Fact]
    public async Task An_event_naming_no_media_object_is_answered_2xx_and_not_kept()
    {
        var (status, _) = await PostAsync(MediaBridgeContract.EventsPrefix + "media-played", Valid);

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Empty(_hubSpot.Received);
        Assert.Contains("no VIDEO media object of portal 4242 matches externalId v-1", Assert.Single(_hubSpot.Dropped), StringComparison.Ordinal);
        _hubSpot.Dropped.Clear();
    }

    [Fact]
    public async Task An_event_of_a_media_type_the_app_did_not_register_is_answered_2xx_and_not_kept()
    {
        var (status, _) = await PostAsync(MediaBridgeContract.EventsPrefix + "media-played", Valid.Replace("VIDEO", "DOCUMENT", StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Contains("media type DOCUMENT is not registered", Assert.Single(_hubSpot.Dropped), StringComparison.Ordinal);
        _hubSpot.Dropped.Clear();
    }

    [Theory]
    [InlineData("""{"mediaType":"VIDEO","title":"Tour","externalId":"v-1"}""", "oembedUrl: required for VIDEO and AUDIO media")]
    [InlineData("""{"mediaType":"VIDEO","externalId":"v-1","oembedUrl":"https://x"}""", "title: required")]
    [InlineData("""{"mediaType":"DOCUMENT","title":"Deck","externalId":"d-1"}""", "DOCUMENT is not a media type of this app")]
    [InlineData("""{"mediaType":"VIDEO","title":"Tour","oembedUrl":"https://x","hs_title":"Tour"}""", "hs_title: unknown field for a media object")]
    [InlineData("""{"mediaType":"VIDEO","title":"Tour","oembedUrl":"https://x","duration":"12"}""", "duration: must be an integer")]
    public async Task A_media_object_that_breaks_the_schema_is_refused(string body, string problem)
    {
        var (status, answer) = await PostAsync(MediaBridgeContract.ObjectsPath, body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(problem, answer, StringComparison.Ordinal);
        Assert.Empty(_hubSpot.Objects);
    }

    [Theory]
    [InlineData("""{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","contactUtk":"u","externalId":"v"}""", "state: required for media-played")]
    [InlineData("""{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","state":"PLAYING","contactUtk":"u","externalId":"v"}""", "state: must be one of STARTED, VIEWED")]
    [InlineData("""{"mediaType":"MOVIE","occurredTimestamp":1,"sessionId":"s","state":"STARTED","contactUtk":"u","externalId":"v"}""", "mediaType: must be one of")]
    [InlineData("""{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","state":"STARTED","contactUtk":"u","externalId":"v","playedPercent":0}""", "playedPercent: unknown field for media-played")]
    [InlineData("""{"mediaType":"VIDEO","occurredTimestamp":"1","sessionId":"s","state":"STARTED","contactUtk":"u","externalId":"v"}""", "occurredTimestamp: must be an integer")]
    [InlineData("""{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","state":"STARTED","externalId":"v"}""", "contactId or contactUtk is required")]
    [InlineData("""{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","state":"STARTED","contactUtk":"u"}""", "mediaBridgeId or externalId is required")]
    [InlineData("""{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","state":"STARTED","contactUtk":"u","externalId":"v","pageName":"p"}""", "needs both pageName and pageUrl")]
    public async Task A_played_event_that_breaks_the_schema_is_refused_naming_the_problem(string body, string problem)
    {
        var (status, answer) = await PostAsync(MediaBridgeContract.EventsPrefix + "media-played", body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(problem, answer, StringComparison.Ordinal);
        Assert.Empty(_hubSpot.Received);
    }

    [Theory]
    [InlineData("media-played-percent", """{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","contactUtk":"u","externalId":"v","playedPercent":30}""", "playedPercent: must be 0, 25, 50, 75 or 100")]
    [InlineData("media-played-percent", """{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","contactUtk":"u","externalId":"v","playedPercent":25,"state":"STARTED"}""", "state: unknown field for media-played-percent")]
    [InlineData("attention-span", """{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","contactUtk":"u","externalId":"v"}""", "rawDataMap: required for attention-span")]
    [InlineData("attention-span", """{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","contactUtk":"u","externalId":"v","rawDataMap":{"0":1},"derivedValues":{"totalPercentPlayed":1}}""", "derivedValues: must hold exactly")]
    [InlineData("attention-span", """{"mediaType":"VIDEO","occurredTimestamp":1,"sessionId":"s","contactUtk":"u","externalId":"v","rawDataMap":{"0":1.5}}""", "rawDataMap: must be an object of integers")]
    public async Task Quartile_and_attention_span_events_that_break_the_schema_are_refused(string kind, string body, string problem)
    {
        var (status, answer) = await PostAsync(MediaBridgeContract.EventsPrefix + kind, body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(problem, answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_unversioned_v2_endpoints_are_not_the_ones_the_relay_is_held_to()
    {
        using var content = new StringContent(Valid, Encoding.UTF8, "application/json");
        var response = await _client.PostAsync("/media-bridge/v2/events/media-played", content);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private async Task<(HttpStatusCode Status, string Answer)> PostAsync(string path, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _client.PostAsync(path, content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
