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
/// media bridge scopes and a signed state bound to that browser (a nonce also kept in a SameSite cookie);
/// <c>GET /api/oauth/callback</c> checks the state against the cookie (then drops the cookie: a state is used once),
/// exchanges the code, learns the account id, refuses an account outside <c>HubSpot__AllowedPortals</c>, and stores the
/// account's tokens and gives it its publishable key. Every failure is a page that says what to do, never a bare 500.
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

    /// <summary>The browser's half of the state: only the browser that started the install can finish it.</summary>
    private const string NonceCookie = "relay_oauth_nonce";

    public IResult Install(HttpRequest request)
    {
        if (NotConfigured() is { } problem)
            return problem;
        var settings = options.Value;
        var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        request.HttpContext.Response.Cookies.Append(NonceCookie, nonce, CookieFor(request, StateLifetime));
        var query = QueryString.Create(new KeyValuePair<string, string?>[]
        {
            new("client_id", settings.ClientId),
            new("redirect_uri", RedirectUri(request)),
            new("scope", Scopes),
            // Optional: an account whose user may not grant it still installs; its utk sessions are sent unchecked.
            new("optional_scope", $"{ContactResolver.Scope} {ContactResolver.WriteScope}"),
            new("state", NewState(nonce)),
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
        if (!IsValidState(query["state"].ToString(), request.Cookies[NonceCookie]))
            return Page(StatusCodes.Status400BadRequest, "state: is missing, forged, used already, from another browser or older than 15 minutes; start again at /api/oauth/install.");
        request.HttpContext.Response.Cookies.Delete(NonceCookie, CookieFor(request, TimeSpan.Zero));

        try
        {
            var granted = await oauth.ExchangeCodeAsync(query["code"].ToString(), RedirectUri(request), cancellationToken);
            var portalId = granted.HubId ?? await oauth.IntrospectHubIdAsync(granted.AccessToken, cancellationToken);
            if (portalId is null)
                return Page(StatusCodes.Status502BadGateway, "HubSpot did not say which account the app was installed in; try again.");
            if (!options.Value.MayInstall(portalId.Value))
            {
                logger.LogWarning("HubSpot account {PortalId} tried to install the app; it is not in HubSpot__AllowedPortals", portalId);
                return Page(StatusCodes.Status403Forbidden, $"HubSpot account {portalId} may not install this relay; ask its operator.");
            }

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
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogError(ex, "The install could not be completed");
            return Page(StatusCodes.Status503ServiceUnavailable, "The install could not be completed (HubSpot or the relay's storage could not be reached); start again at /api/oauth/install in a minute.");
        }
    }

    private IResult? NotConfigured() => options.Value.DryRun
        ? Page(StatusCodes.Status503ServiceUnavailable, "No HubSpot app is configured: set HubSpot__ClientId and HubSpot__ClientSecret.")
        : null;

    private string RedirectUri(HttpRequest request) =>
        options.Value.RedirectUri is { Length: > 0 } configured
            ? configured
            : $"{request.Scheme}://{request.Host}{request.PathBase}/api/{CallbackRoute}";

    /// <summary><c>issuedAt.nonce.signature</c>: nothing to store, nothing to forge, and only good with the browser's nonce cookie.</summary>
    private string NewState(string nonce)
    {
        var payload = $"{time.GetUtcNow().ToUnixTimeMilliseconds()}.{nonce}";
        return $"{payload}.{Sign(payload)}";
    }

    private bool IsValidState(string state, string? cookieNonce)
    {
        var parts = state.Split('.');
        if (parts.Length != 3 || cookieNonce is null)
            return false;
        var payload = $"{parts[0]}.{parts[1]}";
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(payload)), Encoding.ASCII.GetBytes(parts[2]))
            || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(parts[1]), Encoding.ASCII.GetBytes(cookieNonce)))
            return false;
        return long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var issued)
            && time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(issued) is var age
            && age >= TimeSpan.Zero && age <= StateLifetime;
    }

    /// <summary>
    /// HMAC-SHA256 with a key of the state's own, derived from the client secret (HKDF, labelled): a state never holds
    /// anything of the secret, and the secret's one use stays signing in to HubSpot.
    /// </summary>
    private string Sign(string payload) =>
        Convert.ToHexString(HMACSHA256.HashData(
            HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(options.Value.ClientSecret!), 32, info: "FunctionsRelay OAuth state"u8.ToArray()),
            Encoding.UTF8.GetBytes(payload)));

    private static CookieOptions CookieFor(HttpRequest request, TimeSpan lifetime) => new()
    {
        HttpOnly = true,
        Secure = request.IsHttps,
        // Lax: sent on HubSpot's top-level redirect back to the callback, never on a cross-site subrequest.
        SameSite = SameSiteMode.Lax,
        Path = "/api/oauth",
        MaxAge = lifetime,
    };

    private static IResult Page(int status, string message) => Results.Content(
        $"<!doctype html><meta charset=\"utf-8\"><title>FunctionsRelay</title><p>{WebUtility.HtmlEncode(message)}</p>",
        "text/html; charset=utf-8",
        Encoding.UTF8,
        status);
}
