using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using FunctionsRelay.Testing;

namespace FunctionsRelay.Infra.Tests;

/// <summary>The Bicep CLI from the Azure.Bicep.CommandLine.linux-x64 package, run as a process.</summary>
public static class BicepCli
{
    public static string InfraFolder { get; } = Path.Combine(RepositoryPaths.Root, "infra");

    private static readonly string Executable = typeof(BicepCli).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepCli").Value!;

    public sealed record Result(int ExitCode, string Output, string Diagnostics);

    public static async Task<Result> RunAsync(string workingDirectory, params string[] arguments)
    {
        if (!File.Exists(Executable))
            throw new InvalidOperationException($"The Bicep CLI is not at {Executable}: restore the test project");
        // NuGet does not keep the executable bit on every platform.
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(Executable, File.GetUnixFileMode(Executable) | UnixFileMode.UserExecute);

        var start = new ProcessStartInfo(Executable)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["BICEP_TRACING_ENABLED"] = "false";

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var diagnostics = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Result(process.ExitCode, await output, await diagnostics);
    }

    /// <summary>
    /// What a deployment of infra/main.bicep with these parameters would create, every expression evaluated that
    /// does not depend on a deployed resource (<c>bicep snapshot</c>).
    /// </summary>
    public static async Task<JsonObject> SnapshotAsync(IReadOnlyDictionary<string, string> parameters)
    {
        var folder = Directory.CreateTempSubdirectory("relay-bicep-");
        try
        {
            var main = Path.GetRelativePath(folder.FullName, Path.Combine(InfraFolder, "main.bicep")).Replace('\\', '/');
            var lines = new List<string> { $"using '{main}'" };
            lines.AddRange(parameters.Select(p => $"param {p.Key} = '{p.Value.Replace("'", "\\'", StringComparison.Ordinal)}'"));
            var parametersFile = Path.Combine(folder.FullName, "ci.bicepparam");
            await File.WriteAllLinesAsync(parametersFile, lines);

            var result = await RunAsync(folder.FullName, "snapshot", parametersFile, "--mode", "overwrite",
                "--subscription-id", Subscription, "--tenant-id", Tenant, "--location", "westeurope", "--deployment-name", "ci");
            Assert.True(result.ExitCode == 0, result.Output + result.Diagnostics);
            Assert.Equal("", result.Diagnostics);
            return JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(folder.FullName, "ci.snapshot.json")))!.AsObject();
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    public const string Subscription = "00000000-0000-0000-0000-0000000000aa";
    public const string Tenant = "00000000-0000-0000-0000-0000000000bb";
}
