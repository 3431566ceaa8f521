using FunctionsRelay.Cli;

namespace FunctionsRelay.IntegrationTests;

/// <summary>Runs a <c>relay</c> verb on a relay's services, as the command line would, and keeps what it printed.</summary>
internal static class Cli
{
    public static async Task<(int Exit, string Output)> RunAsync(IServiceProvider services, params string[] args)
    {
        using var output = new StringWriter();
        var exit = await RelayCli.RunAsync(args, services, output, CancellationToken.None);
        return (exit, output.ToString());
    }
}
