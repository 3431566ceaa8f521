using FunctionsRelay.Domain.HubSpot;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>What HubSpot's token endpoint answers. Its text form never shows the tokens.</summary>
public sealed record OAuthTokens(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("refresh_token")] string RefreshToken,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    [property: JsonPropertyName("token_type")] string? TokenType,
    [property: JsonPropertyName("hub_id")] long? HubId)
{
    public override string ToString() => $"OAuthTokens {{ ExpiresIn = {ExpiresIn}, TokenType = {TokenType}, HubId = {HubId} }}";
}

/// <summary>HubSpot refused an OAuth request. <see cref="Error"/> is HubSpot's error code, never a token.</summary>
public sealed class HubSpotOAuthException(int status, string? error, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string? Error { get; } = error;

    /// <summary>The refresh token is bad or revoked: only a new install helps.</summary>
    public bool IsInvalidGrant => Status is 400 or 401 && Error is "invalid_grant" or "BAD_REFRESH_TOKEN";
}

/// <summary>HubSpot's date-versioned OAuth API (the v1 OAuth endpoints are switched off on 2027-02-16).</summary>
public sealed class HubSpotOAuthClient(HttpClient http, IOptions<HubSpotOptions> options)
{
    public const string TokenPath = $"/oauth/{HubSpotApiVersions.OAuth}/token";
    public const string IntrospectPath = $"/oauth/{HubSpotApiVersions.OAuth}/token/introspect";

    public Task<OAuthTokens> ExchangeCodeAsync(string code, string redirectUri, CancellationToken cancellationToken) =>
        RequestTokensAsync(
            [new("grant_type", "authorization_code"), new("code", code), new("redirect_uri", redirectUri)],
            cancellationToken);

    public Task<OAuthTokens> RefreshAsync(string refreshToken, CancellationToken cancellationToken) =>
        RequestTokensAsync([new("grant_type", "refresh_token"), new("refresh_token", refreshToken)], cancellationToken);

    /// <summary>The HubSpot account (hub) id an access token belongs to.</summary>
    public async Task<long?> IntrospectHubIdAsync(string accessToken, CancellationToken cancellationToken)
    {
        using var response = await PostFormAsync(IntrospectPath, [new("token", accessToken)], cancellationToken);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
        foreach (var name in (ReadOnlySpan<string>)["hub_id", "hubId", "portal_id", "portalId"])
        {
            if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var value) && value.TryGetInt64(out var id))
                return id;
        }

        return null;
    }

    private async Task<OAuthTokens> RequestTokensAsync(List<KeyValuePair<string, string>> form, CancellationToken cancellationToken)
    {
        using var response = await PostFormAsync(TokenPath, form, cancellationToken);
        var tokens = await response.Content.ReadFromJsonAsync<OAuthTokens>(cancellationToken);
        if (tokens is null || string.IsNullOrEmpty(tokens.AccessToken) || string.IsNullOrEmpty(tokens.RefreshToken) || tokens.ExpiresIn <= 0)
            throw new HubSpotOAuthException((int)response.StatusCode, null, "HubSpot's token answer lacks access_token, refresh_token or expires_in");
        return tokens;
    }

    private async Task<HttpResponseMessage> PostFormAsync(string path, List<KeyValuePair<string, string>> form, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        form.Add(new("client_id", settings.ClientId ?? ""));
        form.Add(new("client_secret", settings.ClientSecret ?? ""));
        using var content = new FormUrlEncodedContent(form);
        var response = await http.PostAsync(path, content, cancellationToken);
        if (response.IsSuccessStatusCode)
            return response;

        using (response)
        {
            var error = await ReadErrorCodeAsync(response, cancellationToken);
            throw new HubSpotOAuthException((int)response.StatusCode, error, $"HubSpot answered {(int)response.StatusCode} to {path} ({error ?? "no error code"})");
        }
    }

    /// <summary>The error code only (<c>error</c>, or HubSpot's <c>status</c>): never the whole body, which could echo a token.</summary>
    private static async Task<string?> ReadErrorCodeAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
            foreach (var name in (ReadOnlySpan<string>)["error", "status"])
            {
                if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
                    return value.GetString();
            }
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException)
        {
        }

        return null;
    }
}
