using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace FunctionsRelay.Testing;

/// <summary>
/// Where a real Azure Functions host is: <c>FUNCTIONS_HOST_DIR</c> (a folder with <c>start-host.sh</c>), else the shared
/// host beside the checkout (<c>../shared/functions-host</c>, the host of <c>func start</c> and of Azure, built from its
/// public source), else Core Tools' <c>func</c> on the PATH. <see cref="Missing"/> says why there is none.
/// </summary>
public static class FunctionsHostLocation
{
    public const string Setting = "FUNCTIONS_HOST_DIR";

    public static string? StartScript { get; } = FindStartScript();

    public static string? Func { get; } = StartScript is null ? FindOnPath("func") : null;

    /// <summary>Null when a host was found; else the reason, for the tests' skip message (or failure, with <c>CI=true</c>).</summary>
    public static string? Missing => StartScript is null && Func is null
        ? $"no Azure Functions host here: set {Setting} to a folder with start-host.sh, put the shared host at " +
          $"{Path.GetFullPath(Path.Combine(RepositoryPaths.Root, "..", "shared", "functions-host"))}, or install Core Tools (func)"
        : null;

    /// <summary>On CI (<c>CI=true</c>) a missing host fails the run instead of skipping the host tests.</summary>
    public static bool Required => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    private static string? FindStartScript()
    {
        string?[] folders =
        [
            Environment.GetEnvironmentVariable(Setting),
            Path.Combine(RepositoryPaths.Root, "..", "shared", "functions-host"),
        ];
        return folders.Where(folder => !string.IsNullOrWhiteSpace(folder))
            .Select(folder => Path.GetFullPath(Path.Combine(folder!, "start-host.sh")))
            .FirstOrDefault(File.Exists);
    }

    private static string? FindOnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, command))
            .FirstOrDefault(File.Exists);
}

/// <summary>
/// The Functions app as <c>dotnet publish</c> makes it, running on a real Azure Functions host (<see cref="FunctionsHostLocation"/>)
/// on a loopback port, with the settings a user gives it (local.settings.json's values, as environment variables). Its
/// log is the host's console: what <c>func start</c> shows.
/// </summary>
public sealed class FunctionsHost : IAsyncDisposable
{
    private readonly string _runFolder;
    private readonly Process? _func;
    private readonly StringWriter? _funcLog;

    private FunctionsHost(string runFolder, int port, Process? func, StringWriter? funcLog)
    {
        _runFolder = runFolder;
        Port = port;
        _func = func;
        _funcLog = funcLog;
    }

    public int Port { get; }

    public Uri BaseUrl => new($"http://127.0.0.1:{Port}/");

    /// <summary>The host's master key (admin routes: <c>?code=</c> or <c>x-functions-key</c>); empty under <c>func start</c>, which checks no keys.</summary>
    public string MasterKey => ReadKeys().Master;

    /// <summary>A function key (not the master key): what an anonymous or function-level route takes, and an admin route refuses.</summary>
    public string FunctionKey => ReadKeys().Function;

    /// <summary>Everything the host has written so far: its own lines and the worker's (<c>Host.Function.Console</c>).</summary>
    public string Log => _funcLog?.ToString() ?? ReadShared(Path.Combine(_runFolder, "host.log"));

    /// <summary>Publishes the Functions project (without building it again: the solution's build made it) into a folder of its own.</summary>
    public static async Task<string> PublishAsync(string configuration)
    {
        var output = Directory.CreateTempSubdirectory("relay-functions-app-").FullName;
        var project = Path.Combine(RepositoryPaths.Root, "src", "FunctionsRelay.Functions");
        var (code, log) = await RunAsync("dotnet", ["publish", project, "-c", configuration, "--no-build", "-o", output, "--nologo"]);
        if (code != 0)
            (code, log) = await RunAsync("dotnet", ["publish", project, "-c", configuration, "-o", output, "--nologo"]);
        if (code != 0 || !File.Exists(Path.Combine(output, "functions.metadata")))
            throw new InvalidOperationException($"dotnet publish of the Functions app failed ({code}):\n{log}");
        return output;
    }

    /// <summary>The app settings of local.settings.sample.json: what a user who copies it to local.settings.json runs with.</summary>
    public static Dictionary<string, string> SampleSettings()
    {
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "local.settings.sample.json")));
        return sample.RootElement.GetProperty("Values").EnumerateObject().ToDictionary(value => value.Name, value => value.Value.GetString() ?? "");
    }

    /// <summary>Starts the host on the published app, on <paramref name="port"/>, with <paramref name="settings"/> as its environment, and waits until it has started.</summary>
    public static async Task<FunctionsHost> StartAsync(string app, int port, IReadOnlyDictionary<string, string> settings)
    {
        var run = Directory.CreateTempSubdirectory("relay-functions-host-").FullName;
        if (FunctionsHostLocation.StartScript is { } script)
        {
            var start = new ProcessStartInfo("bash", [script, app, run, port.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var (key, value) in settings)
                start.Environment[key] = value;
            using var starting = Process.Start(start)!;
            var output = starting.StandardOutput.ReadToEndAsync();
            var errors = starting.StandardError.ReadToEndAsync();
            await starting.WaitForExitAsync();
            if (starting.ExitCode != 0)
                throw new InvalidOperationException($"start-host.sh failed ({starting.ExitCode}): {await output}{await errors}");
            return new FunctionsHost(run, port, null, null);
        }

        var func = FunctionsHostLocation.Func ?? throw new InvalidOperationException(FunctionsHostLocation.Missing);
        var startFunc = new ProcessStartInfo(func, ["start", "--port", port.ToString(CultureInfo.InvariantCulture)])
        {
            WorkingDirectory = app,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in settings)
            startFunc.Environment[key] = value;
        var log = new StringWriter();
        var process = Process.Start(startFunc)!;
        process.OutputDataReceived += (_, line) => { lock (log) log.WriteLine(line.Data); };
        process.ErrorDataReceived += (_, line) => { lock (log) log.WriteLine(line.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var host = new FunctionsHost(run, port, process, log);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!host.Log.Contains("Host started", StringComparison.Ordinal) && !host.Log.Contains("Job host started", StringComparison.Ordinal))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException("func start did not start:\n" + host.Log);
            await Task.Delay(250);
        }

        return host;
    }

    public async ValueTask DisposeAsync()
    {
        if (_func is { } func)
        {
            if (!func.HasExited)
                func.Kill(entireProcessTree: true);
            func.Dispose();
            return;
        }

        var pidFile = Path.Combine(_runFolder, "host.pid");
        if (File.Exists(pidFile) && int.TryParse(await File.ReadAllTextAsync(pidFile), CultureInfo.InvariantCulture, out var pid))
        {
            try
            {
                using var host = Process.GetProcessById(pid);
                host.Kill(entireProcessTree: true);
                await host.WaitForExitAsync();
            }
            catch (ArgumentException)
            {
                // Stopped already.
            }
        }
    }

    private (string Master, string Function) ReadKeys()
    {
        var secrets = Path.Combine(_runFolder, "secrets", "host.json");
        if (!File.Exists(secrets))
            return ("", "");
        using var json = JsonDocument.Parse(File.ReadAllText(secrets));
        return (json.RootElement.GetProperty("masterKey").GetProperty("value").GetString()!,
                json.RootElement.GetProperty("functionKeys")[0].GetProperty("value").GetString()!);
    }

    /// <summary>Reads a file another process is writing.</summary>
    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return new StreamReader(stream).ReadToEnd();
    }

    private static async Task<(int Code, string Log)> RunAsync(string command, string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await errors);
    }
}
