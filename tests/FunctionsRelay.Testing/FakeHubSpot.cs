using System.Collections.Concurrent;
using System.Text.Json;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Testing;

/// <summary>One event HubSpot accepted.</summary>
public sealed record ReceivedEvent(long PortalId, string Path, string Payload)
{
    /// <summary>When it arrived (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>), for latency measurements.</summary>
    public long ReceivedTicks { get; init; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public JsonElement Json => JsonDocument.Parse(Payload).RootElement;

    public string Key => Path[MediaBridgeContract.EventsPrefix.Length..] switch
    {
        "media-played" => "played",
        "attention-span" => "attention-span",
        _ => "quartile-" + Json.GetProperty("playedPercent").GetInt32(),
    };

    public string SessionId => Json.GetProperty("sessionId").GetString()!;
}

/// <summary>
/// A loopback HTTP server standing in for HubSpot: the OAuth token and introspection endpoints and the three Media Bridge
/// event endpoints. It checks the client credentials, the bearer token and every event against
/// <see cref="MediaBridgeContract"/> (400 naming the problem), and can be told to answer 429 (with Retry-After) or 500
/// for the next event requests.
/// </summary>
public sealed class FakeHubSpot : IAsyncDisposable
{
    public const string ClientId = "test-client-id";
    public const string ClientSecret = "test-client-secret-5f2c1e";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, long> _accessTokens = new();
    private readonly ConcurrentDictionary<string, long> _refreshTokens = new();
    private readonly ConcurrentQueue<(int Status, int? RetryAfterSeconds)> _forcedAnswers = new();
    private int _tokenCounter;

    private FakeHubSpot(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentQueue<ReceivedEvent> Received { get; } = new();

    public ConcurrentQueue<string> Refused { get; } = new();

    private int _refreshes;
    private int _eventRequests;

    public int Refreshes => Volatile.Read(ref _refreshes);

    /// <summary>Every request to an event endpoint, whatever the answer (accepted, 401, 429, 500, 400).</summary>
    public int EventRequests => Volatile.Read(ref _eventRequests);

    /// <summary>Makes every access token issued so far invalid, as if they had all expired: the relay must refresh them.</summary>
    public void ExpireAllAccessTokens() => _accessTokens.Clear();

    public int ExpiresInSeconds { get; set; } = 1800;

    /// <summary>Called with each event accepted, before the relay hears the answer.</summary>
    public Action<ReceivedEvent>? OnAccepted { get; set; }

    /// <summary>Every token this server issued: none may ever appear in the relay's logs.</summary>
    public ConcurrentBag<string> IssuedSecrets { get; } = [ClientSecret];

    public static async Task<FakeHubSpot> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeHubSpot(app);
        app.MapPost("/oauth/2026-03/token", fake.TokenAsync);
        app.MapPost("/oauth/2026-03/token/introspect", fake.IntrospectAsync);
        app.MapPost(MediaBridgeContract.EventsPrefix + "{kind}", fake.EventAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fake.BaseUrl = new Uri(address);
        return fake;
    }

    public (string AccessToken, string RefreshToken) IssueTokens(long portalId)
    {
        var n = Interlocked.Increment(ref _tokenCounter);
        var access = $"access-{portalId}-{n}-{Guid.NewGuid():N}";
        var refresh = $"refresh-{portalId}-{n}-{Guid.NewGuid():N}";
        _accessTokens[access] = portalId;
        _refreshTokens[refresh] = portalId;
        IssuedSecrets.Add(access);
        IssuedSecrets.Add(refresh);
        return (access, refresh);
    }

    /// <summary>Connects a portal as an install would: issues its tokens here and stores them where the relay reads them.</summary>
    public async Task<(string AccessToken, string RefreshToken)> ConnectPortalAsync(PortalTokenStore store, long portalId, TimeSpan expiresIn)
    {
        var (access, refresh) = IssueTokens(portalId);
        await store.SaveAsync(new PortalToken(portalId, access, refresh, DateTimeOffset.UtcNow + expiresIn, PortalStatus.Connected), overwrite: true, CancellationToken.None);
        return (access, refresh);
    }

    public void RevokeAccessToken(string accessToken) => _accessTokens.TryRemove(accessToken, out _);

    public void RevokeRefreshToken(string refreshToken) => _refreshTokens.TryRemove(refreshToken, out _);

    public void AnswerNextEvents(int status, int count, int? retryAfterSeconds = null)
    {
        for (var i = 0; i < count; i++)
            _forcedAnswers.Enqueue((status, retryAfterSeconds));
    }

    public List<ReceivedEvent> EventsOf(string sessionId) => Received.Where(e => e.SessionId == sessionId).ToList();

    /// <summary>The settings that point a relay at this server, with the app's credentials.</summary>
    public IEnumerable<KeyValuePair<string, string?>> RelaySettings =>
    [
        new("HubSpot:ClientId", ClientId),
        new("HubSpot:ClientSecret", ClientSecret),
        new("HubSpot:BaseUrl", BaseUrl.ToString()),
    ];

    /// <summary>Stops the server; fails the test when the relay sent any event HubSpot would have refused.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Assert.True(Refused.IsEmpty, "The relay sent events HubSpot refuses:\n" + string.Join("\n", Refused));
    }

    private async Task<IResult> TokenAsync(HttpRequest request)
    {
        var form = await request.ReadFormAsync();
        if (form["client_id"] != ClientId || form["client_secret"] != ClientSecret)
            return Results.Json(new { error = "invalid_client" }, statusCode: 401);
        switch (form["grant_type"].ToString())
        {
            case "authorization_code" when form["code"].ToString().StartsWith("code-for-", StringComparison.Ordinal) && !string.IsNullOrEmpty(form["redirect_uri"]):
                var portalId = long.Parse(form["code"].ToString()["code-for-".Length..], System.Globalization.CultureInfo.InvariantCulture);
                var (access, refresh) = IssueTokens(portalId);
                return Results.Json(new { access_token = access, refresh_token = refresh, expires_in = ExpiresInSeconds, token_type = "bearer" });
            case "refresh_token" when _refreshTokens.TryGetValue(form["refresh_token"].ToString(), out var portal):
                Interlocked.Increment(ref _refreshes);
                var fresh = IssueTokens(portal);
                return Results.Json(new { access_token = fresh.AccessToken, refresh_token = fresh.RefreshToken, expires_in = ExpiresInSeconds, token_type = "bearer", hub_id = portal });
            default:
                return Results.Json(new { error = "invalid_grant", error_description = "missing or invalid refresh token" }, statusCode: 400);
        }
    }

    private async Task<IResult> IntrospectAsync(HttpRequest request)
    {
        var form = await request.ReadFormAsync();
        return _accessTokens.TryGetValue(form["token"].ToString(), out var portal)
            ? Results.Json(new { active = true, hub_id = portal, token_type = "access" })
            : Results.Json(new { active = false });
    }

    private async Task<IResult> EventAsync(HttpRequest request, string kind)
    {
        Interlocked.Increment(ref _eventRequests);
        var token = request.Headers.Authorization.ToString();
        if (!token.StartsWith("Bearer ", StringComparison.Ordinal) || !_accessTokens.TryGetValue(token["Bearer ".Length..], out var portalId))
            return Results.Json(new { status = "error", category = "EXPIRED_AUTHENTICATION" }, statusCode: 401);

        if (_forcedAnswers.TryDequeue(out var forced))
        {
            if (forced.RetryAfterSeconds is { } seconds)
                request.HttpContext.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Json(new { status = "error", category = forced.Status == 429 ? "RATE_LIMITS" : "INTERNAL_ERROR" }, statusCode: forced.Status);
        }

        var payload = await new StreamReader(request.Body).ReadToEndAsync();
        var problem = MediaBridgeContract.Validate(kind, payload);
        if (problem is not null)
        {
            Refused.Enqueue(problem);
            return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = problem }, statusCode: 400);
        }

        var received = new ReceivedEvent(portalId, request.Path, payload);
        Received.Enqueue(received);
        OnAccepted?.Invoke(received);
        return Results.Accepted();
    }
}
