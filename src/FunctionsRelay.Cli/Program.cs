using FunctionsRelay.Cli;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Cli;

/// <summary>The <c>relay</c> command: the relay's services on its own settings, then a verb.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        // The relay's own settings, as the hosts read them: environment variables (HubSpot__ClientId, AzureWebJobsStorage, ...);
        // with no storage named (a connection string, or identity-based service URIs), the local Azurite, as the local host takes it.
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        var storage = configuration.GetSection(StorageClients.ConnectionName);
        if (string.IsNullOrWhiteSpace(storage.Value) && string.IsNullOrWhiteSpace(storage["queueServiceUri"]))
        {
            configuration[StorageClients.ConnectionName] = "UseDevelopmentStorage=true";
            await Console.Error.WriteLineAsync($"relay: storage: the local Azurite ({StorageClients.ConnectionName} is not set; set it for another storage account)");
        }

        // A person waits for the command: storage out of reach is said after a few seconds, not the hosts' half minute.
        configuration[$"{RelayOptions.SectionName}:{nameof(RelayOptions.StorageRetries)}"] ??= "2";

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
