using System.Diagnostics;

namespace FunctionsRelay.IntegrationTests;

/// <summary>The <c>relay</c> command as its own process, as a newcomer runs it: exit codes 0/1/2 and a sentence, never a stack trace.</summary>
public sealed class CommandProcessTests
{
    [Fact]
    public async Task Without_a_storage_setting_relay_status_takes_the_local_azurite_and_says_so_when_it_is_not_there()
    {
        var (exit, output) = await RunAsync(new() { ["AzureWebJobsStorage"] = null, ["AzureWebJobsStorage__queueServiceUri"] = null }, "status");

        Assert.Contains("relay: storage: the local Azurite (AzureWebJobsStorage is not set", output, StringComparison.Ordinal);
        // Nothing listens on Azurite's ports in the test run, or something does: either way a sentence and 0 or 1.
        Assert.True(exit is 0 or 1, $"exit {exit}: {output}");
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Storage_out_of_reach_is_exit_code_1_and_a_sentence_naming_the_setting()
    {
        var closed = AzuriteProcess.ConnectionStringFor(Ports.Free(), Ports.Free());

        var (exit, output) = await RunAsync(new() { ["AzureWebJobsStorage"] = closed }, "status");

        Assert.Equal(1, exit);
        Assert.Contains("relay: the relay's storage could not be reached or refused the request", output, StringComparison.Ordinal);
        Assert.Contains("check AzureWebJobsStorage", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Output)> RunAsync(Dictionary<string, string?> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "relay.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in environment)
        {
            if (value is null)
                start.Environment.Remove(key);
            else
                start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await errors + await output);
    }
}
