using System.Globalization;
using Azure.Data.Tables;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Telemetry;

/// <summary>
/// One portal's state as storage holds it: its token, its sessions, what waits (in HubSpot calls, and in minutes at the
/// portal's pace: how far behind it is when it is over its budget), what was given up on.
/// </summary>
public sealed record PortalStatusLine(
    long PortalId,
    string Token,
    int OpenSessions,
    int ClosedSessions,
    int EventsWaiting,
    int DeadLetters,
    int Poisoned)
{
    /// <summary>Minutes the waiting events take at <see cref="HubSpotOptions.RequestsPerTenSeconds"/>, all instances together.</summary>
    public double BacklogMinutes { get; init; }
}

/// <summary>
/// What an operator looks at first on a bad day, per portal, read from the relay's tables: the token's state (connected,
/// refresh due, disconnected), sessions open and closed, events waiting in outboxes, dead letters, poisoned messages. A
/// scan of the tables: for a command line, not for a hot path.
/// </summary>
public sealed class PortalStatusReport(
    PortalTokenStore tokens,
    SessionRepository sessions,
    DeadLetterStore deadLetters,
    PoisonedMessageStore poisoned,
    IOptions<HubSpotOptions> hubSpot,
    TimeProvider time)
{
    public async Task<List<PortalStatusLine>> ReadAsync(long? portalId, CancellationToken cancellationToken)
    {
        var filter = portalId is { } portal ? TableClient.CreateQueryFilter($"PartitionKey eq {portal.ToString(CultureInfo.InvariantCulture)}") : null;
        var lines = new Dictionary<long, PortalStatusLine>();
        PortalStatusLine Line(long id) => lines.TryGetValue(id, out var line) ? line : lines[id] = new(id, "not installed", 0, 0, 0, 0, 0);

        await foreach (var row in tokens.Table.QueryAsync<TableEntity>(
            portalId is { } p ? TableClient.CreateQueryFilter($"RowKey eq {p.ToString(CultureInfo.InvariantCulture)}") : null,
            select: ["RowKey", "Status", "ExpiresAt", "Timestamp"],
            cancellationToken: cancellationToken))
        {
            var id = long.Parse(row.RowKey, CultureInfo.InvariantCulture);
            var expires = row.GetDateTimeOffset("ExpiresAt") ?? DateTimeOffset.MinValue;
            lines[id] = Line(id) with
            {
                Token = row.GetString("Status") == nameof(PortalStatus.Connected)
                    ? expires - time.GetUtcNow() < hubSpot.Value.RefreshWindow ? $"connected, refresh due (expires {expires:u})" : $"connected (expires {expires:u})"
                    : $"disconnected since {row.Timestamp:u}",
            };
        }

        await foreach (var row in sessions.Table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "Closed", "Pending"], cancellationToken: cancellationToken))
        {
            var line = Line(long.Parse(row.PartitionKey, CultureInfo.InvariantCulture));
            var closed = row.GetBoolean("Closed") ?? false;
            lines[line.PortalId] = line with
            {
                OpenSessions = line.OpenSessions + (closed ? 0 : 1),
                ClosedSessions = line.ClosedSessions + (closed ? 1 : 0),
                EventsWaiting = line.EventsWaiting + (row.GetInt32("Pending") ?? 0),
            };
        }

        await foreach (var row in deadLetters.Table.QueryAsync<TableEntity>(filter, select: ["PartitionKey"], cancellationToken: cancellationToken))
        {
            var line = Line(long.Parse(row.PartitionKey, CultureInfo.InvariantCulture));
            lines[line.PortalId] = line with { DeadLetters = line.DeadLetters + 1 };
        }

        await foreach (var row in poisoned.Table.QueryAsync<TableEntity>(filter, select: ["PartitionKey"], cancellationToken: cancellationToken))
        {
            if (!long.TryParse(row.PartitionKey, CultureInfo.InvariantCulture, out var id))
                continue;
            var line = Line(id);
            lines[id] = line with { Poisoned = line.Poisoned + 1 };
        }

        var perMinute = hubSpot.Value.RequestsPerTenSeconds * 6.0;
        return [.. lines.Values.OrderBy(l => l.PortalId).Select(l => l with { BacklogMinutes = Math.Round(l.EventsWaiting / perMinute, 1) })];
    }
}
