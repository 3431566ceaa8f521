using FunctionsRelay.Cli;
using FunctionsRelay.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Cli;

/// <summary>The <c>relay</c> command: the relay's services on its own settings, then a verb.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        // The relay's own settings, as the hosts read them: environment variables (HubSpot__ClientId, AzureWebJobsStorage, ...).
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        await using var services = new ServiceCollection().AddRelayCommand(configuration).BuildServiceProvider();
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        return await RelayCli.RunAsync(args, services, Console.Out, cancel.Token);
    }
}
