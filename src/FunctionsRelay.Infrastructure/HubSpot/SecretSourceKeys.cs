using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>
/// One of a portal's secret source keys as the relay keeps it: its id, the SHA-256 of the key (never the key), when it
/// was made, and from when it no longer counts (revoked, or rotated with a grace period).
/// </summary>
public sealed record SecretKeyRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("hash")] string Hash,
    [property: JsonPropertyName("created")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("until")] DateTimeOffset? ValidUntil = null)
{
    public bool ValidAt(DateTimeOffset now) => ValidUntil is not { } until || until > now;

    /// <summary>The text form leaves the hash out.</summary>
    public override string ToString() => $"SecretKeyRecord {{ Id = {Id}, CreatedAt = {CreatedAt:O}, ValidUntil = {ValidUntil:O} }}";
}

/// <summary>
/// A portal's secret source keys: what a platform's backend or mParticle's Webhook output shows in its
/// <c>Authorization</c> header. The key, <c>sk_{portalId}_{id}_{secret}</c>, names its portal and its record, so that a
/// request is matched to one stored hash with no search; 32 random bytes make a plain SHA-256 enough to store (a slow
/// password hash protects guessable secrets, which these are not). Shown once when made, never stored or logged.
/// </summary>
public static class SecretSourceKeys
{
    public const string Prefix = "sk_";

    /// <summary>A new key of the portal and the record that keeps its hash.</summary>
    public static (string Key, SecretKeyRecord Record) Make(long portalId, DateTimeOffset now)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var key = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{portalId}_{id}_{secret}");
        return (key, new SecretKeyRecord(id, HashOf(key), now));
    }

    /// <summary>The portal and record id a key names, or null for text that is not shaped as a secret key.</summary>
    public static (long PortalId, string Id)? Parse(string? key)
    {
        if (key is null || !key.StartsWith(Prefix, StringComparison.Ordinal) || key.Length > 128)
            return null;
        var parts = key[Prefix.Length..].Split('_', 3);
        return parts.Length == 3
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var portalId) && portalId > 0
            && parts[1].Length == 8 && parts[2].Length > 0
            ? (portalId, parts[1])
            : null;
    }

    /// <summary>Whether <paramref name="key"/> is one of <paramref name="records"/>' keys and still counts.</summary>
    public static bool Accepts(IReadOnlyList<SecretKeyRecord> records, string key, DateTimeOffset now)
    {
        if (Parse(key) is not { } named)
            return false;
        var record = records.FirstOrDefault(r => r.Id == named.Id);
        return record is not null && record.ValidAt(now)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(HashOf(key)), Encoding.ASCII.GetBytes(record.Hash));
    }

    /// <summary>
    /// The key an <c>Authorization</c> header shows: <c>Bearer sk_...</c>, the key alone, or HTTP Basic with the key as the
    /// user name or the password (mParticle's Webhook output takes any header value; its docs show Basic).
    /// </summary>
    public static string? FromAuthorization(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
            return null;
        var value = header.Trim();
        if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return value["Bearer ".Length..].Trim();
        if (value.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(value["Basic ".Length..].Trim()));
                var colon = pair.IndexOf(':');
                var (user, password) = colon < 0 ? (pair, "") : (pair[..colon], pair[(colon + 1)..]);
                return password.StartsWith(Prefix, StringComparison.Ordinal) ? password : user;
            }
            catch (FormatException)
            {
                return "";
            }
        }

        return value;
    }

    public static string Serialize(IReadOnlyList<SecretKeyRecord> records) => JsonSerializer.Serialize(records, SecretKeyJsonContext.Default.IReadOnlyListSecretKeyRecord);

    public static IReadOnlyList<SecretKeyRecord> Deserialize(string? stored) =>
        string.IsNullOrEmpty(stored) ? [] : JsonSerializer.Deserialize(stored, SecretKeyJsonContext.Default.IReadOnlyListSecretKeyRecord) ?? [];

    private static string HashOf(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}

[JsonSerializable(typeof(IReadOnlyList<SecretKeyRecord>))]
internal sealed partial class SecretKeyJsonContext : JsonSerializerContext;
