using Azure;
using Azure.Storage.Queues;
using FunctionsRelay.Infrastructure.Storage;

namespace FunctionsRelay.LoadTest;

/// <summary>Samples the approximate message count of queues, as Azure's scale controller reads it to size the app.</summary>
public sealed class QueueLengths(string connectionString, IReadOnlyList<string> queues)
{
    private readonly Dictionary<string, List<int>> _samples = queues.ToDictionary(q => q, _ => new List<int>());

    public async Task SampleAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        // Base64, as the relay writes its messages (and the Functions queue trigger reads them): peeked bodies decode as relay messages.
        var clients = queues.Select(q => new QueueClient(connectionString, q, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 })).ToList();
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var client in clients)
            {
                try
                {
                    var properties = await client.GetPropertiesAsync(CancellationToken.None);
                    var count = properties.Value.ApproximateMessagesCount;
                    bool spike;
                    lock (_samples)
                    {
                        _samples[client.Name].Add(count);
                        spike = count >= SpikeAtLeast && count > 3 * _samples[client.Name].Average();
                    }

                    if (spike)
                        await NoteSpikeAsync(client, count);
                }
                catch (RequestFailedException)
                {
                    // Not there (an older build has no such queue), or Azurite restarting in a fault run.
                }
            }

            await Task.Delay(interval, CancellationToken.None);
        }
    }

    private const int SpikeAtLeast = 50;

    private readonly List<string> _spikes = [];

    /// <summary>What a sample far over the queue's mean held: how many of its messages were visible, and their kinds.</summary>
    public IReadOnlyList<string> Spikes
    {
        get
        {
            lock (_samples)
                return _spikes.ToList();
        }
    }

    private async Task NoteSpikeAsync(QueueClient client, int count)
    {
        var peeked = (await client.PeekMessagesAsync(32, CancellationToken.None)).Value;
        var kinds = peeked
            .Select(message => RelayMessage.TryParse(message.Body) is { } relay ? relay.Kind.ToString() + (relay.Checks is { } checks ? $"({checks.Count})" : "") : "unreadable")
            .GroupBy(kind => kind)
            .Select(group => $"{group.Count()} {group.Key}");
        lock (_samples)
            _spikes.Add($"{client.Name} at sample {_samples[client.Name].Count}: {count} messages, {peeked.Length} of the first 32 visible ({string.Join(", ", kinds)})");
    }

    /// <summary>Each queue's peak and mean, and its peak in each ten samples (10 s at the load test's 1 s), to say when the peak came.</summary>
    public IReadOnlyList<(string Queue, int Peak, double Mean, IReadOnlyList<int> PeakPerTen)> Summary()
    {
        lock (_samples)
        {
            return _samples.Where(s => s.Value.Count > 0)
                .Select(s => (s.Key, s.Value.Max(), s.Value.Average(), (IReadOnlyList<int>)s.Value.Chunk(10).Select(ten => ten.Max()).ToList()))
                .ToList();
        }
    }
}
