using System.Diagnostics;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Queues;

namespace FunctionsRelay.LoadTest;

/// <summary>
/// The limit: how fast this machine's Azurite takes the relay's kind of storage operations through the same SDK and the
/// same counting proxy, with nothing else running. Each worker does what the processor does per message: put a message,
/// get it, read an entity, write it back with its ETag, delete the message.
/// </summary>
public static class RawStorage
{
    public const int OperationsPerRound = 5;

    public static async Task<double> OperationsPerSecondAsync(string connectionString, int workers, TimeSpan duration)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var queue = new QueueClient(connectionString, "raw-" + id, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        var table = new TableClient(connectionString, "raw" + id);
        await queue.CreateIfNotExistsAsync();
        await table.CreateIfNotExistsAsync();
        var payload = new string('x', 2048); // about a session entity's size
        for (var w = 0; w < workers; w++)
            await table.UpsertEntityAsync(new TableEntity("p", w.ToString(System.Globalization.CultureInfo.InvariantCulture)) { ["H0"] = payload });

        long rounds = 0;
        var stop = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
        {
            var rowKey = w.ToString(System.Globalization.CultureInfo.InvariantCulture);
            while (Stopwatch.GetTimestamp() < stop)
            {
                await queue.SendMessageAsync(payload[..200]);
                var received = await queue.ReceiveMessagesAsync(maxMessages: 1);
                var entity = await table.GetEntityAsync<TableEntity>("p", rowKey);
                await table.UpdateEntityAsync(entity.Value, entity.Value.ETag, TableUpdateMode.Replace);
                foreach (var message in received.Value)
                {
                    try
                    {
                        await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                    }
                    catch (RequestFailedException)
                    {
                        // another worker's message that became visible again: fine for a rate measurement
                    }
                }

                Interlocked.Increment(ref rounds);
            }
        }));
        var elapsed = Stopwatch.GetElapsedTime(started);
        await queue.DeleteIfExistsAsync();
        await table.DeleteAsync();
        return rounds * OperationsPerRound / elapsed.TotalSeconds;
    }
}
