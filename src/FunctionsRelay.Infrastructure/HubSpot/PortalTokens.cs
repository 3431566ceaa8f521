using Azure;
using Azure.Data.Tables;
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

/// <summary>Tokens in Table Storage, one row per portal; every write after the first is conditional on the ETag.</summary>
public sealed class PortalTokenStore(Storage.StorageClients clients, IOptions<RelayOptions> options)
{
    private const string Partition = "portal";

    public TableClient Table { get; } = clients.Tables.GetTableClient(options.Value.TokensTable);

    public Task CreateIfNotExistsAsync(CancellationToken cancellationToken) => Table.CreateIfNotExistsAsync(cancellationToken);

    public async Task<PortalToken?> GetAsync(long portalId, CancellationToken cancellationToken)
    {
        var response = await Table.GetEntityIfExistsAsync<TableEntity>(Partition, Key(portalId), cancellationToken: cancellationToken);
        return response.HasValue && response.Value is { } entity ? FromEntity(entity) : null;
    }

    public async Task<IReadOnlyList<PortalToken>> ListConnectedExpiringBeforeAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        var tokens = new List<PortalToken>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {Partition} and Status eq {nameof(PortalStatus.Connected)} and ExpiresAt lt {before}");
        await foreach (var entity in Table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
            tokens.Add(FromEntity(entity));
        return tokens;
    }

    /// <summary>Writes the token: unconditionally for a new install, else only over the version that was read.</summary>
    /// <exception cref="RequestFailedException">412 when someone else wrote the row since.</exception>
    public async Task<PortalToken> SaveAsync(PortalToken token, bool overwrite, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(Partition, Key(token.PortalId))
        {
            ["AccessToken"] = token.AccessToken,
            ["RefreshToken"] = token.RefreshToken,
            ["ExpiresAt"] = token.ExpiresAt,
            ["Status"] = token.Status.ToString(),
        };
        var response = overwrite
            ? await Table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken)
            : await Table.UpdateEntityAsync(entity, token.ETag, TableUpdateMode.Replace, cancellationToken);
        return token with { ETag = response.Headers.ETag ?? default };
    }

    private static string Key(long portalId) => portalId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static PortalToken FromEntity(TableEntity entity) => new(
        long.Parse(entity.RowKey, System.Globalization.CultureInfo.InvariantCulture),
        entity.GetString("AccessToken") ?? "",
        entity.GetString("RefreshToken") ?? "",
        entity.GetDateTimeOffset("ExpiresAt") ?? DateTimeOffset.MinValue,
        Enum.TryParse<PortalStatus>(entity.GetString("Status"), out var status) ? status : PortalStatus.Disconnected,
        entity.ETag);
}
