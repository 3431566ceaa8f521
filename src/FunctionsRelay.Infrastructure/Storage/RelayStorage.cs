using Azure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>
/// Every queue and table the relay uses, by the names its settings give them: what a host makes where they are missing
/// (<see cref="CreateMissingAsync"/>), and what an answer names when one is gone (<see cref="MissingStorage"/>).
/// </summary>
public sealed class RelayStorage(StorageClients clients, IOptions<RelayOptions> options)
{
    public IReadOnlyList<string> QueueNames { get; } =
        [options.Value.BeaconQueue, options.Value.PoisonQueue, options.Value.ScheduleQueue, options.Value.SchedulePoisonQueue];

    public IReadOnlyList<string> TableNames { get; } =
    [
        options.Value.SessionsTable, options.Value.TokensTable, options.Value.DeadLettersTable, options.Value.MediaObjectsTable,
        options.Value.QuotasTable, options.Value.PoisonedTable, options.Value.MetricsTable, options.Value.ScheduleTable, options.Value.KeysTable,
        options.Value.ForgottenTable,
    ];

    /// <summary>The relay's queues and tables that storage does not have, each as "queue 'name'" or "table 'name'": two listings.</summary>
    public async Task<IReadOnlyList<string>> MissingAsync(CancellationToken cancellationToken)
    {
        var queues = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var queue in clients.Queues.GetQueuesAsync(cancellationToken: cancellationToken))
            queues.Add(queue.Name);
        var tables = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        await foreach (var table in clients.Tables.QueryAsync(cancellationToken: cancellationToken))
            tables.Add(table.Name);
        return [.. QueueNames.Where(name => !queues.Contains(name)).Select(QueueLabel), .. TableNames.Where(name => !tables.Contains(name)).Select(TableLabel)];
    }

    /// <summary>Makes the queues and tables that are missing (listed first, so that storage that has them all costs two calls); what it made.</summary>
    public async Task<IReadOnlyList<string>> CreateMissingAsync(CancellationToken cancellationToken)
    {
        var missing = await MissingAsync(cancellationToken);
        foreach (var name in QueueNames.Where(name => missing.Contains(QueueLabel(name))))
            await clients.Queues.GetQueueClient(name).CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        foreach (var name in TableNames.Where(name => missing.Contains(TableLabel(name))))
            await clients.Tables.GetTableClient(name).CreateIfNotExistsAsync(cancellationToken);
        return missing;
    }

    public string Describe() => $"queues {string.Join(", ", QueueNames)}; tables {string.Join(", ", TableNames)}";

    private static string QueueLabel(string name) => $"queue '{name}'";

    private static string TableLabel(string name) => $"table '{name}'";
}

/// <summary>
/// A queue or table of the relay that storage does not have (a storage account the deployment did not provision, an
/// Azurite that nothing has set up): named in the answer (503) and in one warning per name, not in one line per request
/// or poll.
/// </summary>
public sealed class MissingStorage(RelayStorage storage, TimeProvider time, ILogger<MissingStorage> logger)
{
    /// <summary>How long what is missing is taken as known before it is listed again.</summary>
    private static readonly TimeSpan ListedFor = TimeSpan.FromSeconds(10);

    private readonly HashSet<string> _warned = [];
    private (IReadOnlyList<string> Names, DateTimeOffset At)? _listed;

    /// <summary>Whether storage answered that the queue or table a call named does not exist (not a missing row).</summary>
    public static bool IsMissing(Exception exception) =>
        exception is RequestFailedException { Status: 404, ErrorCode: "QueueNotFound" or "TableNotFound" };

    /// <summary>
    /// What is missing, for an answer: "queue 'beacons' does not exist ...". Lists storage (at most every 10 s) and warns
    /// once per missing name.
    /// </summary>
    public async Task<string> DescribeAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var listed = _listed;
        if (listed is not { } known || now - known.At > ListedFor)
        {
            try
            {
                listed = (await storage.MissingAsync(cancellationToken), now);
            }
            catch (Exception ex) when (StorageClients.IsUnavailable(ex))
            {
                listed = ([], now);
            }

            _listed = listed;
        }

        var names = listed.Value.Names;
        if (names.Count == 0)
            return "a queue or table of the relay does not exist";
        lock (_warned)
        {
            foreach (var name in names.Where(_warned.Add))
            {
                logger.LogWarning(
                    "The relay's storage has no {Missing}: the relay makes its queues and tables when it starts (the log says 'Storage ready' or why it could not), or the deployment makes them (infra/). Requests that need it are answered 503 meanwhile",
                    name);
            }
        }

        return $"{string.Join(", ", names)} {(names.Count == 1 ? "does" : "do")} not exist";
    }

    /// <summary>
    /// Runs a timer's work, which a missing queue or table would fail at every tick: that is logged once (by name), and
    /// the tick ends without a failure. Other failures go on as they were.
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        try
        {
            await work(cancellationToken);
        }
        catch (Exception ex) when (IsMissing(ex) && !cancellationToken.IsCancellationRequested)
        {
            await DescribeAsync(cancellationToken);
        }
    }
}
