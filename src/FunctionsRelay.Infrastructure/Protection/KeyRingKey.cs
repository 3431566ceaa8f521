namespace FunctionsRelay.Infrastructure.Protection;

/// <summary>
/// The Key Vault key that wraps the key ring: <c>https://&lt;vault&gt;/keys/&lt;name&gt;</c>, without a version (plain http
/// only for a vault on this machine: a stand-in for tests).
/// </summary>
public static class KeyRingKey
{
    public static bool TryParse(string? value, out Uri key)
    {
        key = null!;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var parsed) || !(parsed.Scheme == Uri.UriSchemeHttps || (parsed.Scheme == Uri.UriSchemeHttp && parsed.IsLoopback)))
            return false;
        var segments = parsed.AbsolutePath.Trim('/').Split('/');
        if (segments is not ["keys", { Length: > 0 }])
            return false;
        key = parsed;
        return true;
    }
}

/// <summary>
/// The key ring and the relay's settings disagree: it holds keys wrapped by a Key Vault key, and this relay has no
/// <c>Relay__KeyRingKeyUri</c> to unwrap them with. Going on would make a new key stored unwrapped in the table every
/// instance reads, and lose the wrap without a word, so the relay stops instead.
/// </summary>
public sealed class KeyRingMisconfiguredException(string table)
    : InvalidOperationException(
        $"The key ring in table {table} holds keys wrapped by a Key Vault key, but Relay__KeyRingKeyUri is not set: set it to that key " +
        "(the deployment's output, or the app's setting) and run again. Nothing was read or written.");
