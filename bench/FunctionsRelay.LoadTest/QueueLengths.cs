using Azure;
using Azure.Storage.Queues;

namespace FunctionsRelay.LoadTest;

/// <summary>Samples the approximate message count of queues, as Azure's scale controller reads it to size the app.</summary>
public sealed class QueueLengths(string connectionString, IReadOnlyList<string> queues)
{
    private readonly Dictionary<string, List<int>> _samples = queues.ToDictionary(q => q, _ => new List<int>());

    public async Task SampleAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        var clients = queues.Select(q => new QueueClient(connectionString, q)).ToList();
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var client in clients)
            {
                try
                {
                    var properties = await client.GetPropertiesAsync(CancellationToken.None);
                    lock (_samples)
                        _samples[client.Name].Add(properties.Value.ApproximateMessagesCount);
                }
                catch (RequestFailedException)
                {
                    // Not there (an older build has no such queue), or Azurite restarting in a fault run.
                }
            }

            await Task.Delay(interval, CancellationToken.None);
        }
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
