using System.Security.Cryptography;
using Azure;
using Azure.Data.Tables;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

public enum PortalStatus
{
    Connected,

    /// <summary>HubSpot refused the refresh token (revoked or uninstalled): the app must be installed again.</summary>
    Disconnected,
}

/// <summary>A HubSpot account's OAuth tokens. Its text form never shows the tokens.</summary>
public sealed record PortalToken(long PortalId, string AccessToken, string RefreshToken, DateTimeOffset ExpiresAt, PortalStatus Status, ETag ETag = default)
{
    public override string ToString() => $"PortalToken {{ PortalId = {PortalId}, ExpiresAt = {ExpiresAt:O}, Status = {Status} }}";
}

/// <summary>
/// Who may post beacons for a portal: its players, who show its publishable key (made when the app is installed; after a
/// rotation the previous key stays valid until <see cref="PreviousKeyUntil"/>), from its allowed origins (none set: the
/// relay's own <c>Relay__AllowedOrigins</c>; <c>*</c>: any, chosen explicitly).
/// </summary>
/// <remarks>
/// <see cref="SigningSecret"/> is the portal's secret for signing contact ids (its backend's, never a page's); after a
/// rotation the previous one still vouches until <see cref="PreviousSigningSecretUntil"/>. The text form leaves both out.
/// <see cref="SecretKeys"/> are the hashes of its secret source keys (<see cref="SecretSourceKeys"/>);
/// <see cref="CreatesContacts"/>: the portal opted in to a new contact for an email HubSpot does not know;
/// <see cref="MediaFromCatalogOnly"/>: its media objects are made from its catalog alone (<c>relay media</c>), never
/// from what beacons name.
/// </remarks>
public sealed record PortalAccess(
    long PortalId,
    string Key,
    string? PreviousKey,
    DateTimeOffset? PreviousKeyUntil,
    IReadOnlyList<string> Origins,
    string? SigningSecret = null,
    string? PreviousSigningSecret = null,
    DateTimeOffset? PreviousSigningSecretUntil = null,
    IReadOnlyList<SecretKeyRecord>? SecretKeys = null,
    bool CreatesContacts = false,
    bool MediaFromCatalogOnly = false)
{
    /// <summary>
    /// The row's signing secrets are encrypted with a key this relay's key ring does not hold (another deployment's, a
    /// lost key): nothing is vouched for until the secret is rotated; everything else of the portal works.
    /// </summary>
    public bool SigningSecretUnreadable { get; init; }

    /// <summary>Whether a backend's request shows one of the portal's secret source keys that still counts.</summary>
    public bool AcceptsSecret(string key, DateTimeOffset now) => SecretSourceKeys.Accepts(SecretKeys ?? [], key, now);

    public override string ToString() => $"PortalAccess {{ PortalId = {PortalId}, Key = {Key}, Origins = {string.Join(",", Origins)} }}";

    /// <summary>A secret for signing contact ids: <c>ss_</c> and 32 random bytes, hex.</summary>
    public static string NewSigningSecret() => "ss_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>Whether <paramref name="signature"/> is the portal's signature of the contact id, and has not expired.</summary>
    public bool Vouches(long contactId, FunctionsRelay.Domain.Beacons.ContactSignature signature, DateTimeOffset now)
    {
        if (signature.Expires <= now.ToUnixTimeSeconds())
            return false;
        return SignedWith(SigningSecret, contactId, signature)
            || (PreviousSigningSecretUntil > now && SignedWith(PreviousSigningSecret, contactId, signature));
    }

    private bool SignedWith(string? secret, long contactId, FunctionsRelay.Domain.Beacons.ContactSignature signature)
    {
        if (secret is null)
            return false;
        var expected = System.Security.Cryptography.HMACSHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(secret),
            System.Text.Encoding.UTF8.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{PortalId}:{contactId}:{signature.Expires}")));
        return Same(signature.Value.ToLowerInvariant(), Convert.ToHexStringLower(expected));
    }

    /// <summary>A publishable key: <c>pk_</c> and 24 random bytes, URL-safe; it identifies a portal's players, it is no secret.</summary>
    public static string NewKey() => "pk_" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public bool Accepts(string? key, DateTimeOffset now) =>
        key is not null && (Same(key, Key) || (PreviousKey is not null && PreviousKeyUntil > now && Same(key, PreviousKey)));

    private static bool Same(string given, string expected) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(expected));
}

/// <summary>
/// Tokens in Table Storage, one row per portal; every write after the first is conditional on the ETag. The row also
/// holds the portal's <see cref="PortalAccess"/>: a token write merges into it, so the key survives refreshes and reinstalls.
/// The tokens and the contact-signing secrets are encrypted with the relay's key ring; the publishable key, which every
/// page of the portal shows, is not.
/// </summary>
public sealed class PortalTokenStore(
    Storage.StorageClients clients,
    IOptions<RelayOptions> options,
    TimeProvider time,
    IDataProtectionProvider? dataProtection = null)
{
    /// <summary>Marks a token written encrypted; a row written before encryption holds its tokens as they are, read as such.</summary>
    private const string Encrypted = "dp1:";

    private readonly IDataProtector? _protector = dataProtection?.CreateProtector("FunctionsRelay.PortalTokens");

    private const string Partition = "portal";

    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.TokensTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<PortalToken?> GetAsync(long portalId, CancellationToken cancellationToken)
    {
        var response = await Table.GetEntityIfExistsAsync<TableEntity>(Partition, Key(portalId), cancellationToken: cancellationToken);
        return response.HasValue && response.Value is { } entity ? FromEntity(entity) : null;
    }

    /// <summary>
    /// The connected tokens that expire before <paramref name="before"/>, and the portals whose row this relay's key ring
    /// cannot decrypt: one such row must not keep every other portal's token from being refreshed.
    /// </summary>
    public async Task<(IReadOnlyList<PortalToken> Tokens, IReadOnlyList<long> Unreadable)> ListConnectedExpiringBeforeAsync(
        DateTimeOffset before, CancellationToken cancellationToken)
    {
        var (tokens, unreadable) = (new List<PortalToken>(), new List<long>());
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {Partition} and Status eq {nameof(PortalStatus.Connected)} and ExpiresAt lt {before}");
        await foreach (var entity in Table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            try
            {
                tokens.Add(FromEntity(entity));
            }
            catch (CryptographicException)
            {
                unreadable.Add(long.Parse(entity.RowKey, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return (tokens, unreadable);
    }

    /// <summary>
    /// Writes the token: unconditionally for a new install (which gives a portal without a publishable key its first),
    /// else only over the version that was read.
    /// </summary>
    /// <exception cref="RequestFailedException">412 when someone else wrote the row since.</exception>
    public async Task<PortalToken> SaveAsync(PortalToken token, bool overwrite, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(Partition, Key(token.PortalId))
        {
            ["AccessToken"] = Protect(token.AccessToken),
            ["RefreshToken"] = Protect(token.RefreshToken),
            ["ExpiresAt"] = token.ExpiresAt,
            ["Status"] = token.Status.ToString(),
        };
        if (overwrite && await GetAccessAsync(token.PortalId, cancellationToken) is null)
        {
            entity["PublishableKey"] = PortalAccess.NewKey();
            entity["SigningSecret"] = Protect(PortalAccess.NewSigningSecret());
        }
        var response = overwrite
            ? await Table.UpsertEntityAsync(entity, TableUpdateMode.Merge, cancellationToken)
            : await Table.UpdateEntityAsync(entity, token.ETag, TableUpdateMode.Merge, cancellationToken);
        return token with { ETag = response.Headers.ETag ?? default };
    }

    /// <summary>The portal's key and origins; null for a portal that never installed the app.</summary>
    public async Task<PortalAccess?> GetAccessAsync(long portalId, CancellationToken cancellationToken) =>
        (await ReadAccessAsync(portalId, cancellationToken))?.Access;

    private static readonly string[] AccessProperties =
        ["PublishableKey", "PreviousKey", "PreviousKeyUntil", "AllowedOrigins", "SigningSecret", "PreviousSigningSecret", "PreviousSigningSecretUntil", "SecretKeys", "CreateContacts", "MediaFromCatalogOnly"];

    /// <summary>The portal's access as stored, with the row's version, which a change of it is written over.</summary>
    private async Task<(PortalAccess Access, ETag ETag)?> ReadAccessAsync(long portalId, CancellationToken cancellationToken)
    {
        var response = await Table.GetEntityIfExistsAsync<TableEntity>(Partition, Key(portalId), AccessProperties, cancellationToken);
        if (!response.HasValue || response.Value is not { } entity || entity.GetString("PublishableKey") is not { Length: > 0 } key)
            return null;
        var (secret, previousSecret, unreadable) = (default(string), default(string), false);
        try
        {
            (secret, previousSecret) = (UnprotectOrNull(entity.GetString("SigningSecret")), UnprotectOrNull(entity.GetString("PreviousSigningSecret")));
        }
        catch (CryptographicException ex) when (!Misconfigured(ex))
        {
            unreadable = true;
        }

        var access = new PortalAccess(
            portalId,
            key,
            entity.GetString("PreviousKey"),
            entity.GetDateTimeOffset("PreviousKeyUntil"),
            (entity.GetString("AllowedOrigins") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            secret,
            previousSecret,
            entity.GetDateTimeOffset("PreviousSigningSecretUntil"),
            SecretSourceKeys.Deserialize(entity.GetString("SecretKeys")),
            entity.GetBoolean("CreateContacts") == true,
            entity.GetBoolean("MediaFromCatalogOnly") == true)
        {
            SigningSecretUnreadable = unreadable,
        };
        return (access, entity.ETag);
    }

    /// <summary>Gives the portal a new signing secret; signatures made with the one it had count for <paramref name="grace"/>.</summary>
    public Task<PortalAccess?> RotateSigningSecretAsync(long portalId, TimeSpan grace, CancellationToken cancellationToken) =>
        UpdateAccessAsync(portalId, current => new()
        {
            ["SigningSecret"] = Protect(PortalAccess.NewSigningSecret()),
            ["PreviousSigningSecret"] = current.SigningSecret is { } previous ? Protect(previous) : null,
            ["PreviousSigningSecretUntil"] = time.GetUtcNow() + grace,
        }, cancellationToken);

    /// <summary>Gives the portal a new key; the one it had stays valid for <paramref name="grace"/>, so players can be updated meanwhile.</summary>
    public Task<PortalAccess?> RotateKeyAsync(long portalId, TimeSpan grace, CancellationToken cancellationToken) =>
        UpdateAccessAsync(portalId, current => new()
        {
            ["PublishableKey"] = PortalAccess.NewKey(),
            ["PreviousKey"] = current.Key,
            ["PreviousKeyUntil"] = time.GetUtcNow() + grace,
        }, cancellationToken);

    /// <summary>
    /// Makes the portal a new secret source key and returns it, the one time it is ever shown; only its hash is kept. Null
    /// for a portal that never installed the app.
    /// </summary>
    public async Task<(string Key, SecretKeyRecord Record)?> AddSecretKeyAsync(long portalId, CancellationToken cancellationToken)
    {
        var made = SecretSourceKeys.Make(portalId, time.GetUtcNow());
        var access = await UpdateAccessAsync(portalId, current => new()
        {
            ["SecretKeys"] = SecretSourceKeys.Serialize([.. current.SecretKeys ?? [], made.Record]),
        }, cancellationToken);
        return access is null ? null : made;
    }

    /// <summary>
    /// Ends a secret source key after <paramref name="grace"/> (zero: now), so that a rotation can replace it at the
    /// sender meanwhile; false when the portal has no key of that id.
    /// </summary>
    public async Task<bool> RevokeSecretKeyAsync(long portalId, string id, TimeSpan grace, CancellationToken cancellationToken)
    {
        var found = false;
        await UpdateAccessAsync(portalId, current =>
        {
            var until = time.GetUtcNow() + grace;
            var keys = (current.SecretKeys ?? []).Select(key =>
            {
                if (key.Id != id)
                    return key;
                found = true;
                return key with { ValidUntil = key.ValidUntil is { } earlier && earlier < until ? earlier : until };
            }).ToList();
            return new() { ["SecretKeys"] = SecretSourceKeys.Serialize(keys) };
        }, cancellationToken);
        return found;
    }

    /// <summary>Whether an email HubSpot does not know becomes a new contact of the portal (it needs the contacts write scope).</summary>
    public Task<PortalAccess?> SetCreateContactsAsync(long portalId, bool create, CancellationToken cancellationToken) =>
        UpdateAccessAsync(portalId, _ => new() { ["CreateContacts"] = create }, cancellationToken);

    /// <summary>Whether the portal's media objects come from its catalog alone (<c>relay media</c>), never from what beacons name.</summary>
    public Task<PortalAccess?> SetMediaFromCatalogOnlyAsync(long portalId, bool catalogOnly, CancellationToken cancellationToken) =>
        UpdateAccessAsync(portalId, _ => new() { ["MediaFromCatalogOnly"] = catalogOnly }, cancellationToken);

    /// <summary>Sets the origins whose pages may post the portal's beacons (<c>*</c>: any); none: the relay's own list.</summary>
    public Task<PortalAccess?> SetOriginsAsync(long portalId, IReadOnlyList<string> origins, CancellationToken cancellationToken) =>
        UpdateAccessAsync(portalId, _ => new() { ["AllowedOrigins"] = string.Join(',', origins) }, cancellationToken);

    /// <summary>
    /// Merges the properties made from the portal's current access into its row, over the version read (a concurrent
    /// change, such as a key made on another machine while one is revoked here, is read again and the change made anew,
    /// so that neither is lost); null for a portal that never installed the app.
    /// </summary>
    private async Task<PortalAccess?> UpdateAccessAsync(long portalId, Func<PortalAccess, TableEntity> change, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (await ReadAccessAsync(portalId, cancellationToken) is not { } current)
                return null;
            var properties = change(current.Access);
            (properties.PartitionKey, properties.RowKey) = (Partition, Key(portalId));
            try
            {
                await Table.UpdateEntityAsync(properties, current.ETag, TableUpdateMode.Merge, cancellationToken);
                return await GetAccessAsync(portalId, cancellationToken);
            }
            catch (RequestFailedException ex) when (ex.Status == 412 && attempt < MaxAccessWriteAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(10, 50 * attempt)), time, cancellationToken);
            }
        }
    }

    private const int MaxAccessWriteAttempts = 20;

    /// <summary>Whether a decryption failed because the relay's own settings cannot use the key ring: that stops a host or command, it is no one portal's fault.</summary>
    private static bool Misconfigured(Exception? ex) =>
        ex is not null && (ex is Protection.KeyRingMisconfiguredException || Misconfigured(ex.InnerException));

    private static string Key(long portalId) => portalId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private string Protect(string token) => _protector is null ? token : Encrypted + _protector.Protect(token);

    private string? UnprotectOrNull(string? stored) => stored is null ? null : Unprotect(stored);

    private string Unprotect(string? stored) =>
        stored is null ? "" : stored.StartsWith(Encrypted, StringComparison.Ordinal) && _protector is not null ? _protector.Unprotect(stored[Encrypted.Length..]) : stored;

    private PortalToken FromEntity(TableEntity entity) => new(
        long.Parse(entity.RowKey, System.Globalization.CultureInfo.InvariantCulture),
        Unprotect(entity.GetString("AccessToken")),
        Unprotect(entity.GetString("RefreshToken")),
        entity.GetDateTimeOffset("ExpiresAt") ?? DateTimeOffset.MinValue,
        Enum.TryParse<PortalStatus>(entity.GetString("Status"), out var status) ? status : PortalStatus.Disconnected,
        entity.ETag);
}
