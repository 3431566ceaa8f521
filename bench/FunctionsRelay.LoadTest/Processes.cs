using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace FunctionsRelay.LoadTest;

public static class Ports
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task WaitListeningAsync(int port, TimeSpan timeout, Func<bool>? failed = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (failed?.Invoke() == true)
                break;
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        throw new InvalidOperationException($"nothing listens on port {port}");
    }
}

/// <summary>Azurite from the project's npm packages, on fixed loopback ports so it can be restarted behind the proxy.</summary>
public sealed class AzuriteProcess(string repository, string? dataFolder) : IAsyncDisposable
{
    private Process? _process;

    public int QueuePort { get; } = Ports.Free();

    public int TablePort { get; } = Ports.Free();

    public int BlobPort { get; } = Ports.Free();

    public async Task StartAsync()
    {
        var azurite = Path.Combine(repository, "node_modules", ".bin", "azurite");
        if (!File.Exists(azurite))
            throw new InvalidOperationException($"Azurite is not installed at {azurite}: run npm ci");
        var persistence = dataFolder is null ? "--inMemoryPersistence" : $"--location \"{dataFolder}\"";
        _process = Process.Start(new ProcessStartInfo(azurite,
            $"{persistence} --silent --skipApiVersionCheck --blobHost 127.0.0.1 --blobPort {BlobPort} --queueHost 127.0.0.1 --queuePort {QueuePort} --tableHost 127.0.0.1 --tablePort {TablePort}")
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

    /// <summary>A clean stop (SIGTERM), so Azurite writes what it holds to disk, as a storage service would keep it.</summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process)
            return;
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
        }

        // npx/node wrappers may leave the server behind: wait until the ports are free again.
        for (var i = 0; i < 50 && IsListening(QueuePort); i++)
            await Task.Delay(100);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
            _process.Kill(entireProcessTree: true);
        _process?.Dispose();
        await Task.CompletedTask;
    }

    private static bool IsListening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>The relay's local host (its Release build) as a child process, so it can be SIGKILLed and its memory read.</summary>
public sealed class RelayProcess(string repository, IReadOnlyDictionary<string, string> settings, string logFile) : IAsyncDisposable
{
    private Process? _process;
    private long _peakBytes;
    private Timer? _sampler;

    public int Port { get; } = Ports.Free();

    public Uri BaseUrl => new($"http://127.0.0.1:{Port}");

    public int Starts { get; private set; }

    /// <summary>The largest resident set of any of its processes (VmHWM), bytes.</summary>
    public long PeakBytes => Math.Max(Interlocked.Read(ref _peakBytes), ReadStatus("VmHWM"));

    public async Task StartAsync()
    {
        var output = Path.Combine(repository, "src", "FunctionsRelay.Local", "bin", "Release", "net10.0");
        var dll = Path.Combine(output, "FunctionsRelay.Local.dll");
        if (!File.Exists(dll))
            throw new InvalidOperationException($"{dll} is missing: dotnet build -c Release src/FunctionsRelay.Local");
        var start = new ProcessStartInfo("dotnet", [dll]) { WorkingDirectory = output, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in settings)
            start.Environment[key] = value;
        start.Environment["Urls"] = BaseUrl.ToString();
        _process = Process.Start(start)!;
        var log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Starts++;
        _sampler ??= new Timer(_ => Sample(), null, 0, 200);
        await Ports.WaitListeningAsync(Port, TimeSpan.FromSeconds(60), () => _process.HasExited);
    }

    /// <summary>SIGKILL: no shutdown, no flush; whatever the process was doing is cut off.</summary>
    public async Task KillAsync()
    {
        if (_process is not { } process || process.HasExited)
            return;
        Sample();
        _peakBytes = Math.Max(_peakBytes, ReadStatus("VmHWM"));
        process.Kill();
        await process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_sampler is not null)
            await _sampler.DisposeAsync();
        await KillAsync();
        _process?.Dispose();
        _process = null;
    }

    private void Sample()
    {
        var rss = ReadStatus("VmRSS");
        long current;
        while (rss > (current = Interlocked.Read(ref _peakBytes)) && Interlocked.CompareExchange(ref _peakBytes, rss, current) != current)
        {
        }
    }

    private long ReadStatus(string field)
    {
        try
        {
            if (_process is not { HasExited: false } process)
                return 0;
            foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
            {
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
        }

        return 0;
    }
}
