using System.Diagnostics;

namespace FunctionsRelay.Testing;

/// <summary>
/// Azurite from the project's npm packages, on loopback ports of its own that stay the same across a restart; in memory,
/// or with its data in <paramref name="dataFolder"/> so that a restart keeps it. Telemetry off: it would keep the stopped
/// process alive, and this machine has no network for it.
/// </summary>
public sealed class AzuriteProcess(string repository, string? dataFolder) : IAsyncDisposable
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private Process? _process;

    public int QueuePort { get; } = Ports.Free();

    public int TablePort { get; } = Ports.Free();

    public int BlobPort { get; } = Ports.Free();

    public string ConnectionString => ConnectionStringFor(QueuePort, TablePort, BlobPort);

    /// <summary>Azurite's well-known development account at these loopback ports (Azurite's own, or a proxy's).</summary>
    public static string ConnectionStringFor(int queuePort, int tablePort, int? blobPort = null) =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};" +
        (blobPort is { } blob ? $"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;" : "") +
        $"QueueEndpoint=http://127.0.0.1:{queuePort}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{tablePort}/devstoreaccount1;";

    public async Task StartAsync()
    {
        var azurite = Path.Combine(repository, "node_modules", ".bin", "azurite");
        if (!File.Exists(azurite))
            throw new InvalidOperationException($"Azurite is not installed at {azurite}: run npm ci");
        var persistence = dataFolder is null ? "--inMemoryPersistence" : $"--location \"{dataFolder}\"";
        _process = Process.Start(new ProcessStartInfo(azurite,
            $"{persistence} --silent --disableTelemetry --skipApiVersionCheck --blobHost 127.0.0.1 --blobPort {BlobPort} --queueHost 127.0.0.1 --queuePort {QueuePort} --tableHost 127.0.0.1 --tablePort {TablePort}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Ports.WaitListeningAsync(QueuePort, TimeSpan.FromSeconds(30), () => _process.HasExited);
        await Ports.WaitListeningAsync(TablePort, TimeSpan.FromSeconds(30), () => _process.HasExited);
    }

    /// <summary>
    /// A clean stop (SIGTERM), so Azurite writes what it holds to disk, as a storage service would keep it. Says how it
    /// went: an Azurite killed after the wait has lost whatever it had not written yet.
    /// </summary>
    public async Task<string> StopAsync()
    {
        if (_process is not { HasExited: false } process)
            return "not running";
        var stopping = Stopwatch.StartNew();
        using (var term = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await term.WaitForExitAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return $"KILLED: still running {stopping.Elapsed.TotalSeconds:F0} s after SIGTERM";
        }

        return $"exited {stopping.Elapsed.TotalSeconds:F1} s after SIGTERM with code {process.ExitCode}";
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
            _process.Kill(entireProcessTree: true);
        _process?.Dispose();
        await Task.CompletedTask;
    }
}
