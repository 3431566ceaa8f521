using System.Diagnostics;
using System.Text.Json;

namespace FunctionsRelay.Testing;

/// <summary>Runs one of the Browser/*.mjs scripts (Debian's chromium through playwright-core) and reads the JSON it prints.</summary>
public static class BrowserScript
{
    public static string Artifacts { get; } = Path.Combine(RepositoryPaths.Root, "artifacts", "browser");

    public static async Task<JsonElement> RunAsync(string script, params string[] arguments)
    {
        var chromium = Environment.GetEnvironmentVariable("CHROMIUM_PATH") ?? "/usr/bin/chromium";
        if (!File.Exists(chromium))
            Assert.Fail($"Chromium is not at {chromium}: install it (apt-get install -y chromium; scripts/test.sh does) or set CHROMIUM_PATH");

        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryPaths.Root };
        start.ArgumentList.Add(Path.Combine(RepositoryPaths.Root, "tests", "FunctionsRelay.IntegrationTests", "Browser", script));
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);

        using var node = Process.Start(start)!;
        var output = node.StandardOutput.ReadToEndAsync();
        var errors = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await node.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            node.Kill(entireProcessTree: true);
            Assert.Fail($"{script} took over 2 minutes:\n" + await errors);
        }

        Assert.True(node.ExitCode == 0, $"{script} failed ({node.ExitCode}):\n{await errors}\n{await output}");
        return JsonDocument.Parse(await output).RootElement.Clone();
    }

    /// <summary>Every screenshot the script names was written, and is more than a blank page.</summary>
    public static void AssertScreenshots(JsonElement result, string? folder = null)
    {
        foreach (var screenshot in result.GetProperty("screenshots").EnumerateArray())
            Assert.True(new FileInfo(Path.Combine(folder ?? Artifacts, screenshot.GetString()!)).Length > 10_000, $"screenshot {screenshot} is missing");
    }
}
