using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Http;

/// <summary>
/// The HubSpot app's install flow: <c>GET /api/oauth/install</c> sends the browser to HubSpot's authorize page with the
/// media bridge scopes and a signed state; <c>GET /api/oauth/callback</c> checks the state, exchanges the code, learns the
/// account id and stores the account's tokens.
/// </summary>
public sealed class OAuthEndpoints(
    HubSpotOAuthClient oauth,
    TokenService tokens,
    PortalTokenStore store,
    Ingest.PortalAccessCheck access,
    IOptions<HubSpotOptions> options,
    TimeProvider time,
    ILogger<OAuthEndpoints> logger)
{
    public const string InstallRoute = "oauth/install";
    public const string CallbackRoute = "oauth/callback";
    public const string Scopes = "media_bridge.read media_bridge.write";
    private static readonly TimeSpan StateLifetime = TimeSpan.FromMinutes(15);

    public IResult Install(HttpRequest request)
    {
        if (NotConfigured() is { } problem)
            return problem;
        var settings = options.Value;
        var query = QueryString.Create(new KeyValuePair<string, string?>[]
        {
            new("client_id", settings.ClientId),
            new("redirect_uri", RedirectUri(request)),
            new("scope", Scopes),
            new("state", NewState()),
        });
        return Results.Redirect(settings.AuthorizeUrl + query.ToUriComponent());
    }

    public async Task<IResult> CallbackAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (NotConfigured() is { } problem)
            return problem;
        var query = request.Query;
        if (query["error"] is { Count: > 0 } error)
            return Page(StatusCodes.Status400BadRequest, $"HubSpot did not authorize the app: {error}.");
        if (string.IsNullOrEmpty(query["code"]))
            return Page(StatusCodes.Status400BadRequest, "code: is missing; start again at /api/oauth/install.");
        if (!IsValidState(query["state"].ToString()))
            return Page(StatusCodes.Status400BadRequest, "state: is missing, forged or older than 15 minutes; start again at /api/oauth/install.");

        try
        {
            var granted = await oauth.ExchangeCodeAsync(query["code"].ToString(), RedirectUri(request), cancellationToken);
            var portalId = granted.HubId ?? await oauth.IntrospectHubIdAsync(granted.AccessToken, cancellationToken);
            if (portalId is null)
                return Page(StatusCodes.Status502BadGateway, "HubSpot did not say which account the app was installed in; try again.");
            await tokens.StoreInstallAsync(portalId.Value, granted, cancellationToken);
            access.Forget(portalId.Value);
            var key = (await store.GetAccessAsync(portalId.Value, cancellationToken))?.Key;
            return Page(
                StatusCodes.Status200OK,
                $"FunctionsRelay is connected to HubSpot account {portalId}. Its players' views now reach HubSpot once they send " +
                $"the account's publishable key: {key} (the player script's key option, the X-Relay-Key header or ?key=; relay portal shows it again).");
        }
        catch (HubSpotOAuthException ex)
        {
            logger.LogWarning("HubSpot refused the authorization code: {Status} {Error}", ex.Status, ex.Error);
            return Page(StatusCodes.Status502BadGateway, $"HubSpot refused the authorization code ({ex.Error ?? ex.Status.ToString(CultureInfo.InvariantCulture)}); start again at /api/oauth/install.");
        }
    }

    private IResult? NotConfigured() => options.Value.DryRun
        ? Page(StatusCodes.Status503ServiceUnavailable, "No HubSpot app is configured: set HubSpot__ClientId and HubSpot__ClientSecret.")
        : null;

    private string RedirectUri(HttpRequest request) =>
        options.Value.RedirectUri is { Length: > 0 } configured
            ? configured
            : $"{request.Scheme}://{request.Host}{request.PathBase}/api/{CallbackRoute}";

    /// <summary><c>issuedAt.nonce.signature</c>, signed with the client secret: nothing to store, nothing to forge.</summary>
    private string NewState()
    {
        var payload = $"{time.GetUtcNow().ToUnixTimeMilliseconds()}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(12))}";
        return $"{payload}.{Sign(payload)}";
    }

    private bool IsValidState(string state)
    {
        var lastDot = state.LastIndexOf('.');
        if (lastDot <= 0)
            return false;
        var payload = state[..lastDot];
        var expected = Encoding.ASCII.GetBytes(Sign(payload));
        var given = Encoding.ASCII.GetBytes(state[(lastDot + 1)..]);
        if (!CryptographicOperations.FixedTimeEquals(expected, given))
            return false;
        var issuedAt = payload.Split('.')[0];
        return long.TryParse(issuedAt, NumberStyles.None, CultureInfo.InvariantCulture, out var issued)
            && time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(issued) is var age
            && age >= TimeSpan.Zero && age <= StateLifetime;
    }

    private string Sign(string payload) =>
        Convert.ToHexString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(options.Value.ClientSecret!), Encoding.UTF8.GetBytes(payload)));

    private static IResult Page(int status, string message) => Results.Content(
        $"<!doctype html><meta charset=\"utf-8\"><title>FunctionsRelay</title><p>{WebUtility.HtmlEncode(message)}</p>",
        "text/html; charset=utf-8",
        Encoding.UTF8,
        status);
}
