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
    public async Task A_valid_played_event_is_accepted_and_recorded()
    {
        var (status, _) = await PostAsync("media-played", Valid);

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal("played", Assert.Single(_hubSpot.Received).Key);
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
        var (status, answer) = await PostAsync("media-played", body);

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
        var (status, answer) = await PostAsync(kind, body);

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

    private async Task<(HttpStatusCode Status, string Answer)> PostAsync(string kind, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _client.PostAsync(MediaBridgeContract.EventsPrefix + kind, content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
