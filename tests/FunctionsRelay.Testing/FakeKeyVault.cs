using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Azure.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace FunctionsRelay.Testing;

/// <summary>
/// A loopback stand-in for an Azure Key Vault holding RSA keys, answering what the relay uses of its REST API (7.4): get a
/// key (<c>GET /keys/{name}</c>: its current version's <c>kid</c>), <c>POST /keys/{name}/{version}/wrapkey</c> and
/// <c>unwrapkey</c> with <c>RSA-OAEP-256</c> and base64url values. It checks the bearer token and the api-version, and
/// can revoke access (403, as a role assignment removed) or make a new key version.
/// </summary>
public sealed class FakeKeyVault : IAsyncDisposable
{
    public const string AccessToken = "test-key-vault-token-3f9a";

    private static readonly string[] KeyOperations = ["wrapKey", "unwrapKey"];

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, RSA> _versions = new();
    private string _current = Guid.NewGuid().ToString("N");
    private int _wraps;
    private int _unwraps;

    private FakeKeyVault(WebApplication app)
    {
        _app = app;
        _versions[_current] = RSA.Create(2048);
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The relay's setting: the key without a version.</summary>
    public Uri KeyUri => new(BaseUrl, "keys/dataprotection");

    public bool AccessRevoked { get; set; }

    public int Wraps => Volatile.Read(ref _wraps);

    public int Unwraps => Volatile.Read(ref _unwraps);

    /// <summary>A credential that gets this vault's token, as the app's managed identity would get one from Entra ID.</summary>
    public static TokenCredential Credential { get; } = new StaticCredential();

    public static async Task<FakeKeyVault> StartAsync()
    {
        var app = LoopbackApp.Create();
        var vault = new FakeKeyVault(app);
        app.MapGet("/keys/{name}", (HttpRequest request, string name) => vault.Answer(request, name, () => Results.Json(new
        {
            key = new { kid = vault.Kid(vault._current), kty = "RSA", key_ops = KeyOperations },
            attributes = new { enabled = true },
        })));
        app.MapPost("/keys/{name}/{version}/{operation}", vault.OperateAsync);
        await app.StartAsync();
        vault.BaseUrl = LoopbackApp.BaseUrlOf(app);
        return vault;
    }

    /// <summary>A new version of the key becomes current; the earlier ones still unwrap what they wrapped.</summary>
    public void RotateKey()
    {
        _current = Guid.NewGuid().ToString("N");
        _versions[_current] = RSA.Create(2048);
    }

    private string Kid(string version) => new Uri(KeyUri + "/" + version).ToString();

    private async Task<IResult> OperateAsync(HttpRequest request, string name, string version, string operation)
    {
        using var body = await JsonDocument.ParseAsync(request.Body);
        return Answer(request, name, () =>
        {
            if (!_versions.TryGetValue(version, out var rsa))
                return Error(404, "KeyNotFound", $"A key with (name/id) {name}/{version} was not found in this key vault.");
            if (body.RootElement.GetProperty("alg").GetString() != "RSA-OAEP-256")
                return Error(400, "BadParameter", "the relay wraps with RSA-OAEP-256");
            var value = FromBase64Url(body.RootElement.GetProperty("value").GetString()!);
            byte[] result;
            switch (operation)
            {
                case "wrapkey":
                    Interlocked.Increment(ref _wraps);
                    result = rsa.Encrypt(value, RSAEncryptionPadding.OaepSHA256);
                    break;
                case "unwrapkey":
                    Interlocked.Increment(ref _unwraps);
                    try
                    {
                        result = rsa.Decrypt(value, RSAEncryptionPadding.OaepSHA256);
                    }
                    catch (CryptographicException)
                    {
                        return Error(400, "BadParameter", "Bad Request");
                    }

                    break;
                default:
                    return Error(404, "NotFound", $"no operation {operation}");
            }

            return Results.Json(new { kid = Kid(version), value = Base64Url(result) });
        });
    }

    private IResult Answer(HttpRequest request, string name, Func<IResult> answer)
    {
        if (request.Query["api-version"] != "7.4")
            return Error(400, "BadParameter", "The api-version query parameter is required (7.4).");
        if (request.Headers.Authorization.ToString() != "Bearer " + AccessToken)
            return Error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
        if (AccessRevoked)
            return Error(403, "Forbidden", "Caller is not authorized to perform action on resource.");
        return name == "dataprotection" ? answer() : Error(404, "KeyNotFound", $"A key with (name/id) {name} was not found in this key vault.");
    }

    private static IResult Error(int status, string code, string message) => Results.Json(new { error = new { code, message } }, statusCode: status);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string value)
    {
        var text = value.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '='));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var rsa in _versions.Values)
            rsa.Dispose();
    }

    private sealed class StaticCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            requestContext.Scopes is ["https://vault.azure.net/.default"]
                ? new AccessToken(FakeKeyVault.AccessToken, DateTimeOffset.UtcNow.AddHours(1))
                : throw new InvalidOperationException($"a Key Vault token was asked for the wrong scope: {string.Join(' ', requestContext.Scopes)}");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
