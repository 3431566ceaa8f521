using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Protection;

/// <summary>
/// Keyed hashes of what points at a person, where the relay must recognise it again but never read it: a client address
/// (the bounds of what one address may bring), a viewer (the bounds of one viewer's sessions). HMAC-SHA256 under a key
/// of the deployment's own, made once by whichever instance first needs it and kept in table <c>keys</c> (row
/// <c>pseudonym/hmac-1</c>) encrypted with the key ring, so that every instance hashes alike and a copy of the tables
/// without the key ring cannot test guesses (an IPv4 address has 2^32 values; an unkeyed hash of one is no secret).
/// </summary>
public sealed class Pseudonyms(StorageClients clients, IOptions<RelayOptions> options, IDataProtectionProvider protection) : IDisposable
{
    private const string Partition = "pseudonym";
    private const string Row = "hmac-1";

    private readonly IDataProtector _protector = protection.CreateProtector("FunctionsRelay.Pseudonyms");
    private readonly SemaphoreSlim _loading = new(1, 1);
    private byte[]? _key;

    public void Dispose() => _loading.Dispose();

    /// <summary>The pseudonym of <paramref name="value"/> as a <paramref name="kind"/> ("address", "utk", ...): 32 hex characters.</summary>
    public async ValueTask<string> OfAsync(string kind, string value, CancellationToken cancellationToken)
    {
        var key = _key ?? await LoadAsync(cancellationToken);
        return Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(kind + ":" + value)))[..32];
    }

    private async Task<byte[]> LoadAsync(CancellationToken cancellationToken)
    {
        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (_key is not null)
                return _key;
            var table = clients.Tables.GetTableClient(options.Value.KeysTable);
            await table.CreateIfNotExistsAsync(cancellationToken);
            var row = await table.GetEntityIfExistsAsync<TableEntity>(Partition, Row, cancellationToken: cancellationToken);
            if (!row.HasValue)
            {
                try
                {
                    var made = RandomNumberGenerator.GetBytes(32);
                    await table.AddEntityAsync(new TableEntity(Partition, Row) { ["Key"] = _protector.Protect(Convert.ToBase64String(made)) }, cancellationToken);
                    return _key = made;
                }
                catch (RequestFailedException ex) when (ex.Status == 409)
                {
                    // Another instance made it first: its key is everyone's.
                    row = await table.GetEntityIfExistsAsync<TableEntity>(Partition, Row, cancellationToken: cancellationToken);
                }
            }

            return _key = Convert.FromBase64String(_protector.Unprotect(row.Value!.GetString("Key")));
        }
        finally
        {
            _loading.Release();
        }
    }
}
