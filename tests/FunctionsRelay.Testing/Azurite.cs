namespace FunctionsRelay.Testing;

/// <summary>
/// A real Azurite (the npm package the project installs), in memory, on free loopback ports; one for all tests of an
/// assembly, through its collection (xunit wants the collection definition in the test assembly itself).
/// </summary>
public sealed class Azurite : IAsyncLifetime, IAsyncDisposable
{
    private readonly AzuriteProcess _process = new(RepositoryPaths.Root, dataFolder: null);

    public int QueuePort => _process.QueuePort;

    public int TablePort => _process.TablePort;

    public string ConnectionString => _process.ConnectionString;

    public Task InitializeAsync() => _process.StartAsync();

    public async Task DisposeAsync() => await _process.DisposeAsync();

    ValueTask IAsyncDisposable.DisposeAsync() => _process.DisposeAsync();
}
