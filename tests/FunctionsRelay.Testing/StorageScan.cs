using System.Text;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace FunctionsRelay.Testing;

/// <summary>
/// Reads everything a storage account holds (every entity's every property, every queue message, every blob) for
/// values that must not be there in plain text: a viewer's email or utk. Each is looked for as it is, lower-cased, and
/// as URL- and JSON-escaping would write it. Binary values and queue messages are read as UTF-8 (queue messages also
/// Base64-decoded first), as anyone with the account's keys could read them.
/// </summary>
public static class StorageScan
{
    /// <summary>Where the needles were found ("table sessions1a2b, row 9191/x, property H0"); none: nowhere.</summary>
    /// <param name="tables">Only these tables (and queues), or every one the account has when null.</param>
    public static async Task<List<string>> FindAsync(
        string connectionString, IReadOnlyCollection<string> needles, IReadOnlyCollection<string>? tables = null, IReadOnlyCollection<string>? queues = null)
    {
        var forms = needles.SelectMany(Forms).Distinct().ToList();
        var found = new List<string>();
        void Check(string text, string place)
        {
            if (forms.FirstOrDefault(form => text.Contains(form, StringComparison.OrdinalIgnoreCase)) is { } hit)
                found.Add($"{place} ({(hit.Contains('@', StringComparison.Ordinal) ? "an email" : "a viewer's name")})");
        }

        var tableService = new TableServiceClient(connectionString);
        var tableNames = tables ?? [.. tableService.Query().Select(t => t.Name)];
        foreach (var name in tableNames)
        {
            await foreach (var entity in tableService.GetTableClient(name).QueryAsync<TableEntity>())
            {
                foreach (var (key, value) in entity)
                {
                    var text = value switch
                    {
                        byte[] bytes => Encoding.UTF8.GetString(bytes),
                        BinaryData data => data.ToString(),
                        null => "",
                        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
                    };
                    Check(text, $"table {name}, row {entity.PartitionKey}/{entity.RowKey}, property {key}");
                }
            }
        }

        var queueService = new QueueServiceClient(connectionString);
        var queueNames = queues ?? [.. queueService.GetQueues().Select(q => q.Name)];
        foreach (var name in queueNames)
        {
            var queue = queueService.GetQueueClient(name);
            if (!(await queue.ExistsAsync()).Value)
                continue;
            foreach (var message in (await queue.PeekMessagesAsync(32)).Value)
            {
                var raw = message.Body.ToString();
                Check(raw, $"queue {name}, message {message.MessageId}");
                try
                {
                    Check(Encoding.UTF8.GetString(Convert.FromBase64String(raw)), $"queue {name}, message {message.MessageId} (Base64)");
                }
                catch (FormatException)
                {
                }
            }
        }

        var blobService = new BlobServiceClient(connectionString);
        await foreach (var container in blobService.GetBlobContainersAsync())
        {
            var client = blobService.GetBlobContainerClient(container.Name);
            await foreach (var blob in client.GetBlobsAsync())
                Check((await client.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToString(), $"blob {container.Name}/{blob.Name}");
        }

        return found;
    }

    private static IEnumerable<string> Forms(string needle)
    {
        yield return needle;
        yield return Uri.EscapeDataString(needle);
        yield return System.Text.Json.JsonSerializer.Serialize(needle).Trim('"');
        yield return needle.Replace("@", "\\u0040", StringComparison.Ordinal);
    }
}
