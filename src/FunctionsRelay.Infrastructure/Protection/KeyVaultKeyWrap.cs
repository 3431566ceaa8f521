using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Azure.Core;

namespace FunctionsRelay.Infrastructure.Protection;

/// <summary>The credential the relay reaches Key Vault with: the app's managed identity on Azure (the storage connection's).</summary>
public sealed record KeyVaultAccess(TokenCredential Credential);

/// <summary>
/// Wraps and unwraps a symmetric key with an RSA key that never leaves Key Vault, by Key Vault's REST API (api-version
/// 7.4): <c>GET {key}</c> for the current version's id, <c>POST {kid}/wrapkey</c> and <c>POST {kid}/unwrapkey</c> with
/// <c>RSA-OAEP-256</c> and base64url values, as the app's identity (role Key Vault Crypto Service Encryption User on the key). Written by
/// hand: the Azure SDK's Key Vault keys package is not on this project's package source.
/// </summary>
public sealed class KeyVaultKeyWrap(HttpClient http, KeyVaultAccess access, Uri keyUri)
{
    public const string Algorithm = "RSA-OAEP-256";
    private const string ApiVersion = "api-version=7.4";
    private static readonly string[] Scopes = ["https://vault.azure.net/.default"];

    public Uri KeyUri { get; } = keyUri;

    /// <summary>The wrapped key, and the id of the key version that wrapped it (needed to unwrap it).</summary>
    public async Task<(string Kid, byte[] Wrapped)> WrapAsync(byte[] key, CancellationToken cancellationToken)
    {
        var current = await SendAsync<KeyBundle>(HttpMethod.Get, KeyUri.ToString().TrimEnd('/'), null, cancellationToken);
        var kid = current.Key?.Kid ?? throw new System.Security.Cryptography.CryptographicException($"Key Vault returned no key id for {KeyUri}");
        var wrapped = await SendAsync<KeyOperationResult>(HttpMethod.Post, kid + "/wrapkey", new KeyOperation(Algorithm, Base64Url(key)), cancellationToken);
        return (wrapped.Kid ?? kid, FromBase64Url(wrapped.Value));
    }

    public async Task<byte[]> UnwrapAsync(string kid, byte[] wrapped, CancellationToken cancellationToken)
    {
        if (!kid.StartsWith(KeyUri.ToString().TrimEnd('/') + "/", StringComparison.OrdinalIgnoreCase))
            throw new System.Security.Cryptography.CryptographicException($"the key ring was wrapped by {kid}, not by a version of {KeyUri}");
        var unwrapped = await SendAsync<KeyOperationResult>(HttpMethod.Post, kid + "/unwrapkey", new KeyOperation(Algorithm, Base64Url(wrapped)), cancellationToken);
        return FromBase64Url(unwrapped.Value);
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string url, KeyOperation? body, CancellationToken cancellationToken)
    {
        var token = await access.Credential.GetTokenAsync(new TokenRequestContext(Scopes), cancellationToken);
        using var request = new HttpRequestMessage(method, $"{url}?{ApiVersion}");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token.Token);
        if (body is not null)
            request.Content = JsonContent.Create(body, KeyVaultJsonContext.Default.KeyOperation);
        using var response = await http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            // Key Vault's error names the operation and the permission; it holds no key material.
            var error = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new System.Security.Cryptography.CryptographicException(
                $"Key Vault answered {(int)response.StatusCode} to {method} {new Uri(url).AbsolutePath}: {(error.Length > 500 ? error[..500] : error)}");
        }

        return (T)(await response.Content.ReadFromJsonAsync(typeof(T), KeyVaultJsonContext.Default, cancellationToken)
            ?? throw new System.Security.Cryptography.CryptographicException($"Key Vault answered {method} {new Uri(url).AbsolutePath} with nothing"));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string? value)
    {
        var text = (value ?? "").Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '='));
    }
}

internal sealed record KeyOperation(string Alg, string Value);

internal sealed record KeyOperationResult(string? Kid, string? Value);

internal sealed record JsonWebKey(string? Kid);

internal sealed record KeyBundle(JsonWebKey? Key);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(KeyOperation))]
[JsonSerializable(typeof(KeyOperationResult))]
[JsonSerializable(typeof(KeyBundle))]
internal sealed partial class KeyVaultJsonContext : JsonSerializerContext;
