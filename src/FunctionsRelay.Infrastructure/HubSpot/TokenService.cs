using System.Collections.Concurrent;
using Azure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>
/// Hands out each portal's access token, refreshing it ahead of expiry as HubSpot asks (by the token's lifetime, not on a 401).
/// Refreshes write over the version of the row they read (ETag), so concurrent refreshers never clobber each other:
/// the loser takes the winner's token.
/// </summary>
public sealed class TokenService(
    PortalTokenStore store,
    HubSpotOAuthClient oauth,
    IOptions<HubSpotOptions> options,
    TimeProvider time,
    ILogger<TokenService> logger)
{
    /// <summary>A token this close to expiry is refreshed before use.</summary>
    private static readonly TimeSpan UseMargin = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a token read from the table is used without reading it again: every event needs one, and a table read per
    /// event would double the relay's storage transactions. A token refreshed elsewhere meanwhile still works until it
    /// expires, and a 401 always reads the table again.
    /// </summary>
    private static readonly TimeSpan ReadAgainAfter = TimeSpan.FromSeconds(30);

    private readonly ExpiringCache<long, PortalToken> _recent = new(100_000, time);

    /// <summary>One refresh per portal at a time in this instance; across instances the row's ETag decides.</summary>
    private readonly ConcurrentDictionary<long, SemaphoreSlim> _refreshing = new();

    /// <summary>The portal's access token, or null when it has none that works (never installed, or disconnected).</summary>
    public async Task<string?> GetAccessTokenAsync(long portalId, CancellationToken cancellationToken)
    {
        var token = _recent.TryGet(portalId, out var recent)
            ? recent
            : Remember(portalId, await ReadAsync(portalId, cancellationToken));
        if (token is not { Status: PortalStatus.Connected })
            return null;
        if (token.ExpiresAt - time.GetUtcNow() > UseMargin)
            return token.AccessToken;
        return (await RefreshAsync(token, cancellationToken))?.AccessToken;
    }

    /// <summary>After a 401: a token other than <paramref name="rejected"/> if someone refreshed meanwhile, else a fresh one.</summary>
    public async Task<string?> ReplaceRejectedTokenAsync(long portalId, string rejected, CancellationToken cancellationToken)
    {
        var token = Remember(portalId, await ReadAsync(portalId, cancellationToken));
        if (token is not { Status: PortalStatus.Connected })
            return null;
        if (token.AccessToken != rejected && token.ExpiresAt - time.GetUtcNow() > UseMargin)
            return token.AccessToken;
        return (await RefreshAsync(token, cancellationToken))?.AccessToken;
    }

    /// <summary>Refreshes every connected token that expires within the refresh window. Returns how many were refreshed.</summary>
    public async Task<int> RefreshExpiringAsync(CancellationToken cancellationToken)
    {
        var (due, unreadable) = await store.ListConnectedExpiringBeforeAsync(time.GetUtcNow() + options.Value.RefreshWindow, cancellationToken);
        foreach (var portalId in unreadable)
            LogUnreadable(portalId);
        var refreshed = 0;
        foreach (var token in due)
        {
            try
            {
                if (await RefreshAsync(token, cancellationToken) is not null)
                    refreshed++;
            }
            catch (Exception ex) when (ex is HubSpotOAuthException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Refreshing the token of portal {PortalId} failed; it will be tried again", token.PortalId);
            }
        }

        return refreshed;
    }

    /// <summary>
    /// The portal's row, or null when this relay's key ring cannot decrypt it (another deployment's row, or a key ring
    /// lost or no longer unwrapped): such a portal has no usable token, which is logged, and the others carry on.
    /// </summary>
    private async Task<PortalToken?> ReadAsync(long portalId, CancellationToken cancellationToken)
    {
        try
        {
            return await store.GetAsync(portalId, cancellationToken);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            LogUnreadable(portalId);
            return null;
        }
    }

    private void LogUnreadable(long portalId) => logger.LogError(
        "The token row of portal {PortalId} cannot be decrypted with this relay's key ring (Relay__KeysTable, Relay__KeyRingKeyUri): the portal has no usable token until the key ring is restored or the app is installed again",
        portalId);

    /// <summary>Stores the tokens of a new install (or a reinstall), replacing whatever the portal had.</summary>
    public async Task<PortalToken> StoreInstallAsync(long portalId, OAuthTokens tokens, CancellationToken cancellationToken)
    {
        var token = new PortalToken(portalId, tokens.AccessToken, tokens.RefreshToken, ExpiryOf(tokens), PortalStatus.Connected);
        var saved = await store.SaveAsync(token, overwrite: true, cancellationToken);
        Remember(portalId, saved);
        logger.LogInformation("Portal {PortalId} connected; its token expires at {ExpiresAt:O}", portalId, saved.ExpiresAt);
        return saved;
    }

    /// <summary>
    /// Refreshes the portal's token unless another refresher (here, or elsewhere) did since <paramref name="token"/> was
    /// read: the row is read again once this refresher's turn comes, and a newer usable token is taken as it is.
    /// </summary>
    private async Task<PortalToken?> RefreshAsync(PortalToken token, CancellationToken cancellationToken)
    {
        var turn = _refreshing.GetOrAdd(token.PortalId, _ => new SemaphoreSlim(1, 1));
        await turn.WaitAsync(cancellationToken);
        try
        {
            var current = await store.GetAsync(token.PortalId, cancellationToken);
            if (current is { Status: PortalStatus.Connected } && current.AccessToken != token.AccessToken && current.ExpiresAt - time.GetUtcNow() > UseMargin)
                return Remember(token.PortalId, current);
            return await RefreshNowAsync(current is { Status: PortalStatus.Connected } ? current : token, cancellationToken);
        }
        finally
        {
            turn.Release();
        }
    }

    private async Task<PortalToken?> RefreshNowAsync(PortalToken token, CancellationToken cancellationToken)
    {
        OAuthTokens fresh;
        try
        {
            fresh = await oauth.RefreshAsync(token.RefreshToken, cancellationToken);
        }
        catch (HubSpotOAuthException ex) when (ex.IsInvalidGrant)
        {
            return await MarkDisconnectedAsync(token, ex, cancellationToken);
        }

        try
        {
            var saved = await store.SaveAsync(
                token with { AccessToken = fresh.AccessToken, RefreshToken = fresh.RefreshToken, ExpiresAt = ExpiryOf(fresh) },
                overwrite: false,
                cancellationToken);
            logger.LogInformation("Refreshed the token of portal {PortalId}; it now expires at {ExpiresAt:O}", token.PortalId, saved.ExpiresAt);
            return Remember(token.PortalId, saved);
        }
        catch (RequestFailedException ex) when (ex.Status == 412)
        {
            // Another refresher won; its token is the one to use.
            logger.LogInformation("The token of portal {PortalId} was refreshed elsewhere meanwhile", token.PortalId);
            var current = Remember(token.PortalId, await store.GetAsync(token.PortalId, cancellationToken));
            return current is { Status: PortalStatus.Connected } ? current : null;
        }
    }

    private async Task<PortalToken?> MarkDisconnectedAsync(PortalToken token, HubSpotOAuthException reason, CancellationToken cancellationToken)
    {
        try
        {
            _recent.Remove(token.PortalId);
            await store.SaveAsync(token with { Status = PortalStatus.Disconnected }, overwrite: false, cancellationToken);
            logger.LogWarning(
                "HubSpot refused the refresh token of portal {PortalId} ({Error}): the portal is disconnected until the app is installed again",
                token.PortalId,
                reason.Error);
            return null;
        }
        catch (RequestFailedException ex) when (ex.Status == 412)
        {
            // A reinstall or another refresher wrote a newer row: keep it.
            var current = Remember(token.PortalId, await store.GetAsync(token.PortalId, cancellationToken));
            return current is { Status: PortalStatus.Connected } ? current : null;
        }
    }

    private DateTimeOffset ExpiryOf(OAuthTokens tokens) => time.GetUtcNow().AddSeconds(tokens.ExpiresIn);

    private PortalToken? Remember(long portalId, PortalToken? token)
    {
        if (token is { Status: PortalStatus.Connected })
            _recent.Set(portalId, token, ReadAgainAfter);
        else
            _recent.Remove(portalId);
        return token;
    }
}
