using System.Diagnostics;
using FunctionsRelay.Testing;

namespace FunctionsRelay.LoadTest;

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

/// <summary>Stops every relay instance, whichever way the run ends.</summary>
public sealed class DisposeAll(IEnumerable<IAsyncDisposable> items) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        foreach (var item in items)
            await item.DisposeAsync();
    }
}
