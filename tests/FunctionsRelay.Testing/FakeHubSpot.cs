using System.Collections.Concurrent;
using System.Text.Json;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace FunctionsRelay.Testing;

/// <summary>A media object of a portal, as HubSpot keeps it.</summary>
/// <summary>
/// One call a portal made while <see cref="FakeHubSpot.RequestsPerTenSecondsPerAccount"/> was set: when
/// (<see cref="Environment.TickCount64"/>, ms), its kind (<c>event</c>, <c>utk</c>, <c>email</c>, <c>contact</c>,
/// <c>object</c>, <c>listing</c>, <c>other</c>), what it named (a session id, a utk, a media's externalId; null when the
/// call names none or was refused before it was read) and whether it was answered 429.
/// </summary>
public sealed record HubSpotCall(long AtMs, long PortalId, string Kind, string? Subject, bool Limited);

public sealed record MediaObject(long Id, long PortalId, string MediaType, string Title, string? ExternalId, JsonElement Fields);

/// <summary>One event HubSpot accepted.</summary>
public sealed record ReceivedEvent(long PortalId, string Path, string Payload)
{
    /// <summary>When it arrived (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>), for latency measurements.</summary>
    public long ReceivedTicks { get; init; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public JsonElement Json => JsonDocument.Parse(Payload).RootElement;

    public string Key => Path[(Path.LastIndexOf('/') + 1)..] switch
    {
        "media-played" => "played",
        "attention-span" => "attention-span",
        _ => "quartile-" + Json.GetProperty("playedPercent").GetInt32(),
    };

    public string SessionId => Json.GetProperty("sessionId").GetString()!;

    /// <summary>
    /// The payload as the provider wrote it, before the relay pointed it at HubSpot's media object: <c>mediaBridgeId</c>
    /// back to that object's <c>externalId</c>, in <see cref="CanonicalJson"/> form, to compare with the events the core decides.
    /// </summary>
    public string ProviderPayload { get; init; } = CanonicalJson.Of(Payload);
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
    public const long AppId = 3_141_592;
    public const string DeveloperApiKey = "test-developer-key-7d41a0";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, long> _accessTokens = new();
    private readonly ConcurrentDictionary<string, long> _refreshTokens = new();
    private readonly ConcurrentQueue<(int Status, int? RetryAfterSeconds)> _forcedAnswers = new();
    private int _tokenCounter;

    private FakeHubSpot(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentQueue<ReceivedEvent> Received { get; } = new();

    public ConcurrentQueue<string> Refused { get; } = new();

    /// <summary>
    /// Events accepted with a 2xx and then not kept, as HubSpot's asynchronous processing would drop them: a media type the
    /// app did not register, or a media id that names no media object of the portal. Nothing tells the relay.
    /// </summary>
    public ConcurrentQueue<string> Dropped { get; } = new();

    /// <summary>The media objects of every portal, by id.</summary>
    public ConcurrentDictionary<long, MediaObject> Objects { get; } = new();

    /// <summary>Media types the app registered (its object definitions); events and objects of others are not kept.</summary>
    public ConcurrentDictionary<string, bool> RegisteredMediaTypes { get; } = new();

    private long _nextObjectId = 9000;
    private int _objectRequests;

    /// <summary>Requests to the media object endpoints, whatever the answer.</summary>
    public int ObjectRequests => Volatile.Read(ref _objectRequests);

    /// <summary>
    /// A VIDEO object the provider made in the portal itself; beacons naming it by <c>mediaBridgeId</c> need no media calls,
    /// so that every HubSpot call of their sessions is an event.
    /// </summary>
    public string ProviderMadeVideo(long portalId, long objectId, string title)
    {
        var fields = JsonDocument.Parse($$"""{"mediaType":"VIDEO","title":"{{title}}","oembedUrl":"https://video.example.com/oembed?id={{objectId}}"}""").RootElement.Clone();
        Objects[objectId] = new MediaObject(objectId, portalId, "VIDEO", title, null, fields);
        return $$"""{"mediaBridgeId":{{objectId}},"type":"VIDEO"}""";
    }

    /// <summary>
    /// A provider's catalogue already in the portal: <paramref name="count"/> VIDEO objects with external ids
    /// <c>{prefix}{i}</c>, made by its own integration before the relay met the portal. Their ids, in order.
    /// </summary>
    public IReadOnlyList<long> ProviderCatalogue(long portalId, int count, string prefix)
    {
        var ids = new List<long>(count);
        for (var i = 0; i < count; i++)
        {
            var id = Interlocked.Increment(ref _nextObjectId);
            var fields = JsonDocument.Parse(
                $$"""{"mediaType":"VIDEO","title":"{{prefix}}{{i}}","externalId":"{{prefix}}{{i}}","oembedUrl":"https://video.example.com/oembed?id={{id}}"}""").RootElement.Clone();
            Objects[id] = new MediaObject(id, portalId, "VIDEO", $"{prefix}{i}", $"{prefix}{i}", fields);
            ids.Add(id);
        }

        return ids;
    }

    /// <summary>Registers media types for the app, as its media bridge settings would (the setup command does it over HTTP).</summary>
    public FakeHubSpot RegisterMediaTypes(params string[] mediaTypes)
    {
        foreach (var type in mediaTypes)
            RegisteredMediaTypes[type] = true;
        return this;
    }

    private int _refreshes;
    private int _eventRequests;

    public int Refreshes => Volatile.Read(ref _refreshes);

    /// <summary>Every request to an event endpoint, whatever the answer (accepted, 401, 429, 500, 400).</summary>
    public int EventRequests => Volatile.Read(ref _eventRequests);

    /// <summary>Makes every access token issued so far invalid, as if they had all expired: the relay must refresh them.</summary>
    public void ExpireAllAccessTokens() => _accessTokens.Clear();

    public int ExpiresInSeconds { get; set; } = 1800;

    /// <summary>Sees every request by method and path, before and after it is served (<see cref="CallInterceptor"/>).</summary>
    public CallInterceptor? Interceptor { get; set; }

    /// <summary>Called with each event accepted, before the relay hears the answer.</summary>
    public Action<ReceivedEvent>? OnAccepted { get; set; }

    /// <summary>Every token this server issued: none may ever appear in the relay's logs.</summary>
    public ConcurrentBag<string> IssuedSecrets { get; } = [ClientSecret, DeveloperApiKey];

    /// <summary>
    /// Utks HubSpot knows as visitors who are not contacts: the utk look-up answers 404 and events naming them are
    /// accepted and not kept (our reading: HubSpot links media events to contacts). Every other utk is a contact.
    /// </summary>
    public ConcurrentDictionary<string, bool> AnonymousUtks { get; } = new();

    /// <summary>Portals that did not grant the app the contacts read scope: the utk look-up answers 403.</summary>
    public ConcurrentDictionary<long, bool> WithoutContactsScope { get; } = new();

    private readonly ConcurrentDictionary<string, long> _contactsByUtk = new();
    private int _contactLookups;

    /// <summary>Requests to the utk look-up, whatever the answer.</summary>
    public int ContactLookups => Volatile.Read(ref _contactLookups);

    /// <summary>The visitor of <paramref name="utk"/> becomes a contact (a form filled in): the look-up finds it, its events are kept.</summary>
    public void MakeContact(string utk) => AnonymousUtks.TryRemove(utk, out _);

    private readonly ConcurrentDictionary<(long PortalId, string Email), long> _contactsByEmail = new();
    private int _emailLookups;
    private int _contactsCreated;

    /// <summary>The portal has a contact with this email (a person added it in HubSpot); its id.</summary>
    public long AddContactWithEmail(long portalId, string email) =>
        _contactsByEmail.GetOrAdd((portalId, email.ToLowerInvariant()), _ => Interlocked.Increment(ref _nextObjectId));

    /// <summary>The contact the visitor of <paramref name="utk"/> is (HubSpot ties a utk to one contact once it converts).</summary>
    public void MakeContact(string utk, long contactId)
    {
        AnonymousUtks.TryRemove(utk, out _);
        _contactsByUtk[utk] = contactId;
    }

    /// <summary>The portal's contact <paramref name="contactId"/> has this email (too).</summary>
    public void AddEmailToContact(long portalId, string email, long contactId) => _contactsByEmail[(portalId, email.ToLowerInvariant())] = contactId;

    /// <summary>
    /// A contact deleted (a privacy deletion): its utks are a visitor's no more (HubSpot forgets them: no contact, 404)
    /// and its emails are no contact's.
    /// </summary>
    public void DeleteContact(long contactId)
    {
        foreach (var (utk, _) in _contactsByUtk.Where(c => c.Value == contactId).ToList())
        {
            _contactsByUtk.TryRemove(utk, out _);
            AnonymousUtks[utk] = true;
        }

        foreach (var (key, _) in _contactsByEmail.Where(c => c.Value == contactId).ToList())
            _contactsByEmail.TryRemove(key, out _);
    }

    /// <summary>
    /// POSTs the app's webhook as HubSpot does (our reading of its request validation page, docs/hubspot.md): the body,
    /// <c>X-HubSpot-Request-Timestamp</c> (ms) and <c>X-HubSpot-Signature-v3</c>, the base64 HMAC-SHA256 under the
    /// client secret of method + URL + body + timestamp; computed here, apart from the relay's own code. The request goes
    /// to <paramref name="requestUri"/> (a test server's address) signed as <paramref name="targetUrl"/> (the app's
    /// <c>targetUrl</c>, the relay's public address); <paramref name="signedBody"/>: a body other than the one sent.
    /// </summary>
    public static async Task<HttpResponseMessage> SendWebhookAsync(
        HttpClient client, string requestUri, string targetUrl, string body, DateTimeOffset? at = null, string secret = ClientSecret, string? signedBody = null)
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var source = System.Text.Encoding.UTF8.GetBytes("POST" + targetUrl + (signedBody ?? body) + timestamp);
        var signature = Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret), source));
        using var request = new HttpRequestMessage(HttpMethod.Post, requestUri) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("X-HubSpot-Signature-v3", signature);
        request.Headers.Add("X-HubSpot-Request-Timestamp", timestamp);
        request.Headers.Add("X-HubSpot-Signature-Version", "v3");
        return await client.SendAsync(request);
    }

    /// <summary>A webhook body of privacy deletions of these contacts, as HubSpot sends one (and its <c>contact.deletion</c>).</summary>
    public static string PrivacyDeletions(long portalId, params long[] contactIds) => JsonSerializer.Serialize(contactIds.SelectMany((id, i) => new[]
    {
        new { eventId = 1000 + (2 * i), subscriptionId = 77, portalId, appId = AppId, occurredAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), subscriptionType = "contact.privacyDeletion", attemptNumber = 0, objectId = id },
        new { eventId = 1001 + (2 * i), subscriptionId = 78, portalId, appId = AppId, occurredAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), subscriptionType = "contact.deletion", attemptNumber = 0, objectId = id },
    }));

    /// <summary>The id of the portal's contact with this email, or null.</summary>
    public long? ContactIdOfEmail(long portalId, string email) =>
        _contactsByEmail.TryGetValue((portalId, email.ToLowerInvariant()), out var id) ? id : null;

    /// <summary>Requests to the contacts batch read, whatever the answer.</summary>
    public int EmailLookups => Volatile.Read(ref _emailLookups);

    /// <summary>Contacts the create endpoint made (a 409 for an email that exists makes none).</summary>
    public int ContactsCreated => Volatile.Read(ref _contactsCreated);

    /// <summary>Portals that did not grant the app the contacts write scope: creating a contact answers 403.</summary>
    public ConcurrentDictionary<long, bool> WithoutContactsWriteScope { get; } = new();

    /// <summary>The app's media bridge settings as the settings endpoints last wrote them.</summary>
    public AppSettingsState AppSettings { get; } = new();

    /// <summary>Every request to the app settings endpoints that wrote something (POST, PUT, PATCH).</summary>
    public ConcurrentQueue<string> SettingsWrites { get; } = new();

    /// <summary>
    /// Starts the stand-in for an app whose media bridge settings register <paramref name="registeredMediaTypes"/>
    /// (VIDEO and AUDIO unless told otherwise: the state the setup command leaves an app in).
    /// </summary>
    public static async Task<FakeHubSpot> StartAsync(string[]? registeredMediaTypes = null)
    {
        var app = LoopbackApp.Create();
        var fake = new FakeHubSpot(app);
        app.Use(fake.InterceptAsync);
        fake.RegisterMediaTypes(registeredMediaTypes ?? ["VIDEO", "AUDIO"]);
        app.MapPost("/oauth/2026-09/token", fake.TokenAsync);
        app.MapPost("/oauth/2026-09/token/introspect", fake.IntrospectAsync);
        app.MapPost(MediaBridgeContract.EventsPrefix + "{kind}", (HttpRequest request, string kind) => fake.EventAsync(request, kind, synchronous: false));
        // v1 answers at once, with the error an asynchronous endpoint would keep to itself (the media bridge guide).
        app.MapPost("/media-bridge/v1/events/{kind}", (HttpRequest request, string kind) => fake.EventAsync(request, kind, synchronous: true));
        var settings = $"/media-bridge/2026-09/{AppId}/settings";
        app.MapGet(settings + "/object-definitions/{mediaType}", fake.GetObjectDefinition);
        app.MapPost(settings + "/object-definitions", fake.DefineObjectsAsync);
        app.MapPut(settings, fake.PutAppSettingsAsync);
        app.MapPatch(settings + "/event-visibility", fake.PatchEventVisibilityAsync);
        app.MapGet(settings + "/oembed-domains", fake.ListOEmbedDomains);
        app.MapPost(settings + "/oembed-domains", fake.CreateOEmbedDomainAsync);
        app.MapPatch(settings + "/oembed-domains/{id:long}", fake.UpdateOEmbedDomainAsync);
        app.MapPost(MediaBridgeContract.ObjectsPath, fake.CreateObjectAsync);
        app.MapMethods(MediaBridgeContract.ObjectsPath + "/{objectId:long}", [HttpMethods.Patch], fake.UpdateObjectAsync);
        app.MapGet(MediaBridgeContract.ObjectsPath + "/{mediaType}", fake.ListObjects);
        app.MapGet("/contacts/v1/contact/utk/{utk}/profile", fake.ContactByUtk);
        app.MapPost("/crm/objects/2026-09/contacts/batch/read", fake.ReadContactsAsync);
        app.MapPost("/crm/objects/2026-09/contacts", fake.CreateContactAsync);
        await app.StartAsync();
        fake.BaseUrl = LoopbackApp.BaseUrlOf(app);
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

    private readonly ConcurrentQueue<TimeSpan?> _afterStoring = new();

    /// <summary>
    /// The next <paramref name="count"/> event or media object creations are kept, as HubSpot would keep them, and then
    /// answered 500 (<paramref name="hang"/> null) or only after <paramref name="hang"/> (longer than the relay waits):
    /// the caller cannot tell that HubSpot has them.
    /// </summary>
    public void StoreThenFail(int count, TimeSpan? hang = null)
    {
        for (var i = 0; i < count; i++)
            _afterStoring.Enqueue(hang);
    }

    /// <summary>Answers a request that was kept as <see cref="StoreThenFail"/> says, or null to answer it normally.</summary>
    private async Task<IResult?> AfterStoringAsync()
    {
        if (!_afterStoring.TryDequeue(out var hang))
            return null;
        if (hang is null)
            return Results.Json(new { status = "error", category = "INTERNAL_ERROR" }, statusCode: 500);
        await Task.Delay(hang.Value);
        return null;
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
        Assert.True(Dropped.IsEmpty, "The relay sent events HubSpot would not keep:\n" + string.Join("\n", Dropped));
    }

    /// <summary>
    /// HubSpot's per-account limit for an OAuth app, over every caller of the account (every relay instance): at most
    /// this many API calls in any 10 s (a rolling window); more are answered 429 with <c>Retry-After</c>. Every answer to
    /// a call that names a portal carries <c>X-HubSpot-RateLimit-Max</c>, <c>-Remaining</c> and
    /// <c>-Interval-Milliseconds</c>, as HubSpot's are documented. Null: no limit, no headers.
    /// </summary>
    public int? RequestsPerTenSecondsPerAccount { get; set; }

    /// <summary>
    /// False: the limit holds, but answers carry no <c>X-HubSpot-RateLimit-*</c> headers (HubSpot sends them; a test of
    /// the relay's own pacing leaves them out, as the relay also pauses when they say the window is spent).
    /// </summary>
    public bool SendsRateLimitHeaders { get; set; } = true;

    private readonly ConcurrentDictionary<long, Queue<long>> _windows = new();
    private readonly ConcurrentDictionary<long, ConcurrentQueue<long>> _limited = new();
    private readonly ConcurrentDictionary<long, ConcurrentQueue<long>> _answered = new();

    /// <summary>Calls of a portal answered 429 by <see cref="RequestsPerTenSecondsPerAccount"/>.</summary>
    public int RateLimitedCalls(long portalId) => _limited.TryGetValue(portalId, out var calls) ? calls.Count : 0;

    /// <summary>Calls of a portal answered within the limit (whatever their status).</summary>
    public int CallsWithinLimit(long portalId) => _answered.TryGetValue(portalId, out var calls) ? calls.Count : 0;

    /// <summary>When (<see cref="Environment.TickCount64"/>, ms) each call of the portal came, within the limit and answered 429.</summary>
    public (IReadOnlyList<long> Answered, IReadOnlyList<long> Limited) CallTimes(long portalId) =>
        (_answered.TryGetValue(portalId, out var answered) ? [.. answered] : [], _limited.TryGetValue(portalId, out var limited) ? [.. limited] : []);

    /// <summary>Every portal a call named while <see cref="RequestsPerTenSecondsPerAccount"/> was set.</summary>
    public IReadOnlyCollection<long> LimitedPortals => [.. _answered.Keys.Union(_limited.Keys)];

    /// <summary>Every call a portal made while <see cref="RequestsPerTenSecondsPerAccount"/> was set, in the order answered.</summary>
    public ConcurrentQueue<HubSpotCall> Calls { get; } = new();

    private const string SubjectItem = "fake-hubspot-subject";

    /// <summary>What the call names, for <see cref="Calls"/>: its handler says once it has read the request.</summary>
    private static void Names(HttpRequest request, string? subject) => request.HttpContext.Items[SubjectItem] = subject;

    private static string KindOf(HttpRequest request) => request.Path.Value switch
    {
        { } path when path.StartsWith(MediaBridgeContract.EventsPrefix, StringComparison.Ordinal) || path.StartsWith("/media-bridge/v1/events/", StringComparison.Ordinal) => "event",
        { } path when path.StartsWith("/contacts/v1/contact/utk/", StringComparison.Ordinal) => "utk",
        { } path when path.EndsWith("/contacts/batch/read", StringComparison.Ordinal) => "email",
        { } path when path.EndsWith("/contacts", StringComparison.Ordinal) => "contact",
        { } path when path.StartsWith(MediaBridgeContract.ObjectsPath, StringComparison.Ordinal) => HttpMethods.IsGet(request.Method) ? "listing" : "object",
        _ => "other",
    };

    /// <summary>Counts the call against its account's window; a 429 to answer instead when the window is full.</summary>
    private IResult? RateLimit(HttpContext context)
    {
        if (RequestsPerTenSecondsPerAccount is not { } limit || PortalOf(context.Request) is not { } portalId)
            return null;
        var now = Environment.TickCount64;
        var window = _windows.GetOrAdd(portalId, _ => new Queue<long>());
        int remaining;
        long? retryAfterMs = null;
        lock (window)
        {
            while (window.Count > 0 && now - window.Peek() >= 10_000)
                window.Dequeue();
            if (window.Count >= limit)
                retryAfterMs = window.Peek() + 10_000 - now;
            else
                window.Enqueue(now);
            remaining = Math.Max(0, limit - window.Count);
        }

        var headers = context.Response.Headers;
        if (SendsRateLimitHeaders)
        {
            headers["X-HubSpot-RateLimit-Max"] = limit.ToString(System.Globalization.CultureInfo.InvariantCulture);
            headers["X-HubSpot-RateLimit-Remaining"] = remaining.ToString(System.Globalization.CultureInfo.InvariantCulture);
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000";
        }
        if (retryAfterMs is not { } wait)
        {
            _answered.GetOrAdd(portalId, _ => new()).Enqueue(now);
            context.Response.OnCompleted(() =>
            {
                Calls.Enqueue(new HubSpotCall(now, portalId, KindOf(context.Request), context.Items[SubjectItem] as string, Limited: false));
                return Task.CompletedTask;
            });
            return null;
        }

        _limited.GetOrAdd(portalId, _ => new()).Enqueue(now);
        Calls.Enqueue(new HubSpotCall(now, portalId, KindOf(context.Request), null, Limited: true));
        headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait / 1000.0)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Json(new { status = "error", category = "RATE_LIMITS", message = "You have reached your ten_secondly_rolling limit." }, statusCode: 429);
    }

    private async Task InterceptAsync(HttpContext context, RequestDelegate next)
    {
        // The relay is on 2026-09 (docs/hubspot.md, "API versions"): a call to the version before it is a bug, loudly.
        if (context.Request.Path.Value?.Contains("/2026-03/", StringComparison.Ordinal) == true)
        {
            Refused.Enqueue($"{context.Request.Method} {context.Request.Path}: this stand-in takes the 2026-09 version of this API");
            await Results.Json(new { status = "error", category = "OBJECT_NOT_FOUND", message = "this stand-in takes 2026-09" }, statusCode: 404).ExecuteAsync(context);
            return;
        }

        if (!context.Request.Path.StartsWithSegments("/oauth") && RateLimit(context) is { } limited)
        {
            await limited.ExecuteAsync(context);
            return;
        }

        var call = $"hubspot {context.Request.Method} {context.Request.Path}";
        if (Interceptor is not { } intercept)
        {
            await next(context);
            return;
        }

        if (await intercept(call, false))
            return;
        // The answer is held until the interceptor has seen it, so that dropping it is certain to keep it from the caller.
        var body = context.Response.Body;
        using var held = new MemoryStream();
        context.Response.Body = held;
        await next(context);
        context.Response.Body = body;
        if (await intercept($"{call} {context.Response.StatusCode}", true))
            return;
        held.Position = 0;
        await held.CopyToAsync(body);
    }

    private static readonly string[] SecretParameters = ["client_secret", "refresh_token", "code"];

    private async Task<IResult> TokenAsync(HttpRequest request)
    {
        // 2026-09 takes no client_secret, refresh_token or code in the query string (only in the form body).
        if (SecretParameters.FirstOrDefault(request.Query.ContainsKey) is { } inQuery)
        {
            Refused.Enqueue($"token request with {inQuery} in its query string");
            return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = $"{inQuery} must not be sent as a query parameter" }, statusCode: 400);
        }

        if (!request.HasFormContentType)
            return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = "the token request is a form (application/x-www-form-urlencoded)" }, statusCode: 400);
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

    private async Task<IResult> EventAsync(HttpRequest request, string kind, bool synchronous)
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
        Names(request, SessionIdOf(payload));
        var problem = MediaBridgeContract.Validate(kind, payload);
        if (problem is not null)
        {
            Refused.Enqueue(problem);
            return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = problem }, statusCode: 400);
        }

        if (NotKept(portalId, payload) is { } reason)
        {
            if (synchronous)
                return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = reason }, statusCode: 400);
            Dropped.Enqueue($"{kind}: {reason}");
            return Results.Accepted();
        }

        var received = new ReceivedEvent(portalId, request.Path, payload) { ProviderPayload = ProviderView(payload) };
        Received.Enqueue(received);
        OnAccepted?.Invoke(received);
        return await AfterStoringAsync() ?? Results.Accepted();
    }

    private static string? SessionIdOf(string payload)
    {
        try
        {
            using var json = JsonDocument.Parse(payload);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("sessionId", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Why HubSpot would not keep a valid event: its media type is not registered, or it names no media object of the portal.</summary>
    private string? NotKept(long portalId, string payload)
    {
        var json = JsonDocument.Parse(payload).RootElement;
        var mediaType = json.GetProperty("mediaType").GetString()!;
        if (!RegisteredMediaTypes.ContainsKey(mediaType))
            return $"media type {mediaType} is not registered for the app";
        if (json.TryGetProperty("contactUtk", out var utk) && AnonymousUtks.ContainsKey(utk.GetString()!))
            return $"contactUtk {utk.GetString()} is not a contact of portal {portalId}";
        var matches = json.TryGetProperty("mediaBridgeId", out var id)
            ? Objects.TryGetValue(id.GetInt64(), out var byId) && byId.PortalId == portalId && byId.MediaType == mediaType
            : Objects.Values.Any(o => o.PortalId == portalId && o.MediaType == mediaType && o.ExternalId == json.GetProperty("externalId").GetString());
        return matches ? null : $"no {mediaType} media object of portal {portalId} matches {(json.TryGetProperty("mediaBridgeId", out _) ? "mediaBridgeId " + id : "externalId " + json.GetProperty("externalId"))}";
    }

    private string ProviderView(string payload)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(payload)!.AsObject();
        if (json["mediaBridgeId"]?.GetValue<long>() is { } id && Objects.TryGetValue(id, out var media) && media.ExternalId is { } externalId)
        {
            json.Remove("mediaBridgeId");
            json["externalId"] = externalId;
        }

        return CanonicalJson.Of(json.ToJsonString());
    }

    private long? PortalOf(HttpRequest request)
    {
        var token = request.Headers.Authorization.ToString();
        return token.StartsWith("Bearer ", StringComparison.Ordinal) && _accessTokens.TryGetValue(token["Bearer ".Length..], out var portalId) ? portalId : null;
    }

    /// <summary>
    /// Get a contact by its user token (legacy v1): a contact's profile with <c>vid</c>, <c>canonical-vid</c> and
    /// <c>is-contact</c>; 404 for a utk that is no contact (our reading); 403 without the contacts read scope.
    /// </summary>
    private IResult ContactByUtk(HttpRequest request, string utk)
    {
        Interlocked.Increment(ref _contactLookups);
        Names(request, utk);
        if (PortalOf(request) is not { } portalId)
            return Results.Json(new { status = "error", category = "EXPIRED_AUTHENTICATION" }, statusCode: 401);
        if (WithoutContactsScope.ContainsKey(portalId))
            return Results.Json(new { status = "error", category = "MISSING_SCOPES", message = "This app hasn't been granted all required scopes to make this call." }, statusCode: 403);
        if (request.Query.Count > 0)
            return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = $"the relay sends no query parameters (got {request.QueryString})" }, statusCode: 400);
        if (AnonymousUtks.ContainsKey(utk))
            return Results.Json(new { status = "error", message = "contact does not exist" }, statusCode: 404);
        var id = _contactsByUtk.GetOrAdd(utk, _ => Interlocked.Increment(ref _nextObjectId));
        return Results.Json(new Dictionary<string, object>
        {
            ["vid"] = id,
            ["canonical-vid"] = id,
            ["merged-vids"] = Array.Empty<long>(),
            ["portal-id"] = portalId,
            ["is-contact"] = true,
            ["properties"] = new Dictionary<string, object>(),
        });
    }

    /// <summary>
    /// Batch read of contacts by <c>idProperty: email</c> (the CRM contacts API; our reading, docs/hubspot.md): 200 with
    /// every contact found, 207 with an <c>OBJECT_NOT_FOUND</c> error naming the emails that are none; 400 for a body
    /// of another shape, 403 without the contacts read scope.
    /// </summary>
    private async Task<IResult> ReadContactsAsync(HttpRequest request)
    {
        Interlocked.Increment(ref _emailLookups);
        if (PortalOf(request) is not { } portalId)
            return Results.Json(new { status = "error", category = "EXPIRED_AUTHENTICATION" }, statusCode: 401);
        if (WithoutContactsScope.ContainsKey(portalId))
            return Results.Json(new { status = "error", category = "MISSING_SCOPES", message = "This app hasn't been granted all required scopes to make this call." }, statusCode: 403);
        using var body = JsonDocument.Parse(await new StreamReader(request.Body).ReadToEndAsync());
        var root = body.RootElement;
        if (!root.TryGetProperty("idProperty", out var idProperty) || idProperty.GetString() != "email"
            || !root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array || inputs.GetArrayLength() is 0 or > 100
            || inputs.EnumerateArray().Any(input => !input.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String))
            return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = "expected idProperty \"email\" and 1 to 100 inputs of {\"id\": email}" }, statusCode: 400);
        var emails = inputs.EnumerateArray().Select(input => input.GetProperty("id").GetString()!).ToList();
        var found = emails.Where(email => ContactIdOfEmail(portalId, email) is not null).ToList();
        var results = found.Select(email => new Dictionary<string, object>
        {
            ["id"] = ContactIdOfEmail(portalId, email)!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["properties"] = new Dictionary<string, object> { ["email"] = email.ToLowerInvariant() },
            ["archived"] = false,
        }).ToList();
        var missing = emails.Except(found).ToList();
        if (missing.Count == 0)
            return Results.Json(new { status = "COMPLETE", results });
        return Results.Json(new
        {
            status = "COMPLETE",
            results,
            numErrors = 1,
            errors = new[] { new { status = "error", category = "OBJECT_NOT_FOUND", message = "Could not get some CONTACT objects, they may be deleted or not exist.", context = new { ids = missing } } },
        }, statusCode: 207);
    }

    /// <summary>Creates a contact from <c>{"properties": {"email": ...}}</c>: 201 with its id; 409 when the email has one already; 403 without the write scope.</summary>
    private async Task<IResult> CreateContactAsync(HttpRequest request)
    {
        if (PortalOf(request) is not { } portalId)
            return Results.Json(new { status = "error", category = "EXPIRED_AUTHENTICATION" }, statusCode: 401);
        if (WithoutContactsWriteScope.ContainsKey(portalId))
            return Results.Json(new { status = "error", category = "MISSING_SCOPES", message = "This app hasn't been granted all required scopes to make this call." }, statusCode: 403);
        using var body = JsonDocument.Parse(await new StreamReader(request.Body).ReadToEndAsync());
        if (!body.RootElement.TryGetProperty("associations", out var associations) || associations.ValueKind != JsonValueKind.Array)
            return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = "associations is required (an array; the date-versioned create schema)" }, statusCode: 400);
        if (!body.RootElement.TryGetProperty("properties", out var properties) || !properties.TryGetProperty("email", out var emailElement)
            || emailElement.GetString() is not { Length: > 0 } email || !email.Contains('@'))
            return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = "properties.email is required" }, statusCode: 400);
        var id = Interlocked.Increment(ref _nextObjectId);
        if (!_contactsByEmail.TryAdd((portalId, email.ToLowerInvariant()), id))
            return Results.Json(new { status = "error", category = "CONFLICT", message = $"Contact already exists. Existing ID: {_contactsByEmail[(portalId, email.ToLowerInvariant())]}" }, statusCode: 409);
        Interlocked.Increment(ref _contactsCreated);
        return Results.Json(new { id = id.ToString(System.Globalization.CultureInfo.InvariantCulture), properties = new { email = email.ToLowerInvariant() }, archived = false }, statusCode: 201);
    }

    private async Task<IResult> CreateObjectAsync(HttpRequest request)
    {
        Interlocked.Increment(ref _objectRequests);
        if (PortalOf(request) is not { } portalId)
            return Results.Json(new { status = "error", category = "EXPIRED_AUTHENTICATION" }, statusCode: 401);
        var body = await new StreamReader(request.Body).ReadToEndAsync();
        if (MediaBridgeContract.ValidateObject(body, create: true) is { } problem)
            return RefuseObject(problem);
        var json = JsonDocument.Parse(body).RootElement.Clone();
        Names(request, json.TryGetProperty("externalId", out var named) ? named.GetString() : null);
        var mediaType = json.GetProperty("mediaType").GetString()!;
        if (!RegisteredMediaTypes.ContainsKey(mediaType))
            return RefuseObject($"mediaType: {mediaType} is not a media type of this app (register its object definition first)");
        var created = new MediaObject(
            Interlocked.Increment(ref _nextObjectId), portalId, mediaType, json.GetProperty("title").GetString()!,
            json.TryGetProperty("externalId", out var externalId) ? externalId.GetString() : null, json);
        Objects[created.Id] = created;
        return await AfterStoringAsync() ?? Results.Json(ObjectAnswer(created), statusCode: 201);
    }

    private async Task<IResult> UpdateObjectAsync(HttpRequest request, long objectId)
    {
        Interlocked.Increment(ref _objectRequests);
        if (PortalOf(request) is not { } portalId)
            return Results.Json(new { status = "error", category = "EXPIRED_AUTHENTICATION" }, statusCode: 401);
        var body = await new StreamReader(request.Body).ReadToEndAsync();
        if (MediaBridgeContract.ValidateObject(body, create: false) is { } problem)
            return RefuseObject(problem);
        if (!Objects.TryGetValue(objectId, out var existing) || existing.PortalId != portalId)
            return Results.Json(new { status = "error", category = "OBJECT_NOT_FOUND" }, statusCode: 404);
        var merged = System.Text.Json.Nodes.JsonNode.Parse(existing.Fields.GetRawText())!.AsObject();
        foreach (var property in System.Text.Json.Nodes.JsonNode.Parse(body)!.AsObject().ToList())
            merged[property.Key] = property.Value?.DeepClone();
        var fields = JsonDocument.Parse(merged.ToJsonString()).RootElement.Clone();
        var updated = existing with
        {
            Title = fields.GetProperty("title").GetString()!,
            ExternalId = fields.TryGetProperty("externalId", out var externalId) ? externalId.GetString() : null,
            Fields = fields,
        };
        Objects[objectId] = updated;
        return Results.Json(ObjectAnswer(updated));
    }

    private IResult ListObjects(HttpRequest request, string mediaType, string? after, int? limit)
    {
        Interlocked.Increment(ref _objectRequests);
        if (PortalOf(request) is not { } portalId)
            return Results.Json(new { status = "error", category = "EXPIRED_AUTHENTICATION" }, statusCode: 401);
        var start = long.TryParse(after, System.Globalization.CultureInfo.InvariantCulture, out var cursor) ? cursor : 0;
        var page = Objects.Values.Where(o => o.PortalId == portalId && o.MediaType == mediaType && o.Id > start)
            .OrderBy(o => o.Id).Take(Math.Clamp(limit ?? 10, 1, 100)).ToList();
        var more = page.Count > 0 && Objects.Values.Any(o => o.PortalId == portalId && o.MediaType == mediaType && o.Id > page[^1].Id);
        return Results.Json(new
        {
            results = page.Select(ObjectAnswer),
            paging = more ? new { next = new { after = page[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) } } : null,
        });
    }

    private IResult RefuseObject(string problem)
    {
        Refused.Enqueue("media object: " + problem);
        return Results.Json(new { status = "error", category = "VALIDATION_ERROR", message = problem }, statusCode: 400);
    }

    /// <summary>The SDK's MediaBridgeObject: id (a string), mediaType, title and the provider's fields.</summary>
    private static Dictionary<string, object?> ObjectAnswer(MediaObject media)
    {
        var answer = media.Fields.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
        answer["id"] = media.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        answer["createdAt"] = DateTimeOffset.UtcNow;
        answer["updatedAt"] = DateTimeOffset.UtcNow;
        return answer;
    }

    private static bool IsDeveloper(HttpRequest request) => request.Headers.Authorization.ToString() == "Bearer " + DeveloperApiKey;

    private static IResult Unauthorized() => Results.Json(new { status = "error", category = "INVALID_AUTHENTICATION" }, statusCode: 401);

    private static IResult Invalid(string message) => Results.Json(new { status = "error", category = "VALIDATION_ERROR", message }, statusCode: 400);

    private IResult GetObjectDefinition(HttpRequest request, string mediaType)
    {
        if (!IsDeveloper(request))
            return Unauthorized();
        return RegisteredMediaTypes.ContainsKey(mediaType)
            ? Results.Json(new { objectTypeId = $"2-{AppId}{mediaType.Length}", objectTypeName = $"a{AppId}_{mediaType}", properties = Array.Empty<object>(), propertyGroups = Array.Empty<object>() })
            : Results.Json(new { status = "error", category = "OBJECT_NOT_FOUND" }, statusCode: 404);
    }

    private async Task<IResult> DefineObjectsAsync(HttpRequest request)
    {
        if (!IsDeveloper(request))
            return Unauthorized();
        var json = await JsonDocument.ParseAsync(request.Body);
        SettingsWrites.Enqueue("object-definitions");
        if (!json.RootElement.TryGetProperty("mediaTypes", out var types) || types.ValueKind != JsonValueKind.Array || types.GetArrayLength() == 0)
            return Invalid("mediaTypes: a non-empty array is required");
        var requested = types.EnumerateArray().Select(t => t.GetString()!).ToList();
        if (requested.FirstOrDefault(t => t is not ("VIDEO" or "AUDIO" or "DOCUMENT" or "IMAGE" or "OTHER")) is { } unknown)
            return Invalid($"mediaTypes: {unknown} is not a media type");
        if (requested.FirstOrDefault(RegisteredMediaTypes.ContainsKey) is { } defined)
            return Results.Json(new { status = "error", category = "CONFLICT", message = $"{defined} is already defined for this app" }, statusCode: 409);
        RegisterMediaTypes([.. requested]);
        return Results.Json(new { results = requested.Select(t => new { mediaType = t }) });
    }

    private async Task<IResult> PutAppSettingsAsync(HttpRequest request)
    {
        if (!IsDeveloper(request))
            return Unauthorized();
        var json = (await JsonDocument.ParseAsync(request.Body)).RootElement;
        SettingsWrites.Enqueue("settings");
        if (!json.TryGetProperty("updatedAt", out var updatedAt) || updatedAt.ValueKind != JsonValueKind.Number)
            return Invalid("updatedAt: required");
        AppSettings.Name = json.TryGetProperty("name", out var name) ? name.GetString() : null;
        return Results.Json(new { name = AppSettings.Name });
    }

    private async Task<IResult> PatchEventVisibilityAsync(HttpRequest request)
    {
        if (!IsDeveloper(request))
            return Unauthorized();
        var json = (await JsonDocument.ParseAsync(request.Body)).RootElement;
        SettingsWrites.Enqueue("event-visibility");
        if (!json.TryGetProperty("updatedAt", out _) || !json.TryGetProperty("eventType", out var eventType)
            || eventType.GetString() is not ("ALL" or "ATTENTION_SPAN" or "MEDIA_PLAYS" or "MEDIA_PLAYS_PERCENT"))
            return Invalid("eventType and updatedAt are required");
        AppSettings.Visibility[eventType.GetString()!] = (
            json.TryGetProperty("showInTimeline", out var timeline) && timeline.GetBoolean(),
            json.TryGetProperty("showInReporting", out var reporting) && reporting.GetBoolean(),
            json.TryGetProperty("showInWorkflows", out var workflows) && workflows.GetBoolean());
        return Results.Json(new { eventType = eventType.GetString() });
    }

    private IResult ListOEmbedDomains(HttpRequest request) =>
        IsDeveloper(request) ? Results.Json(new { results = AppSettings.OEmbedDomains.Values.OrderBy(d => d.Id).Select(OEmbedAnswer) }) : Unauthorized();

    private async Task<IResult> CreateOEmbedDomainAsync(HttpRequest request)
    {
        if (!IsDeveloper(request))
            return Unauthorized();
        var json = (await JsonDocument.ParseAsync(request.Body)).RootElement.Clone();
        SettingsWrites.Enqueue("oembed-domains");
        if (EndpointsProblem(json) is { } problem)
            return Invalid(problem);
        var domain = new OEmbedDomain(AppSettings.OEmbedDomains.Count + 1, json.GetProperty("endpoints"));
        AppSettings.OEmbedDomains[domain.Id] = domain;
        return Results.Json(OEmbedAnswer(domain));
    }

    private async Task<IResult> UpdateOEmbedDomainAsync(HttpRequest request, long id)
    {
        if (!IsDeveloper(request))
            return Unauthorized();
        var json = (await JsonDocument.ParseAsync(request.Body)).RootElement.Clone();
        SettingsWrites.Enqueue("oembed-domains/" + id);
        if (EndpointsProblem(json) is { } problem)
            return Invalid(problem);
        if (!AppSettings.OEmbedDomains.ContainsKey(id))
            return Results.Json(new { status = "error", category = "OBJECT_NOT_FOUND" }, statusCode: 404);
        AppSettings.OEmbedDomains[id] = new OEmbedDomain(id, json.GetProperty("endpoints"));
        return Results.Json(OEmbedAnswer(AppSettings.OEmbedDomains[id]));
    }

    /// <summary>The SDK's EndpointsParam: schemes, url and discovery, all required.</summary>
    private static string? EndpointsProblem(JsonElement body) =>
        !body.TryGetProperty("endpoints", out var endpoints) || endpoints.ValueKind != JsonValueKind.Object ? "endpoints: required"
        : !endpoints.TryGetProperty("schemes", out var schemes) || schemes.ValueKind != JsonValueKind.Array || schemes.GetArrayLength() == 0 ? "endpoints.schemes: a non-empty array is required"
        : !endpoints.TryGetProperty("url", out var url) || url.ValueKind != JsonValueKind.String ? "endpoints.url: required"
        : !endpoints.TryGetProperty("discovery", out var discovery) || discovery.ValueKind is not (JsonValueKind.True or JsonValueKind.False) ? "endpoints.discovery: required"
        : null;

    private static object OEmbedAnswer(OEmbedDomain domain) => new { id = domain.Id, appId = AppId, endpoints = domain.Endpoints, portalId = 0, createdAt = 0, updatedAt = 0, deletedAt = 0 };
}

/// <summary>An oEmbed domain of the app: its URL schemes, its oEmbed endpoint and whether it supports discovery.</summary>
public sealed record OEmbedDomain(long Id, JsonElement Endpoints);

/// <summary>The app-level media bridge settings the stand-in keeps.</summary>
public sealed class AppSettingsState
{
    public string? Name { get; set; }

    public ConcurrentDictionary<string, (bool Timeline, bool Reporting, bool Workflows)> Visibility { get; } = new();

    public ConcurrentDictionary<long, OEmbedDomain> OEmbedDomains { get; } = new();
}
