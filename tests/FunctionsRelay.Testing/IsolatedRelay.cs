using FunctionsRelay.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FunctionsRelay.Testing;

/// <summary>A relay of a test's own on the shared Azurite: a queue and tables no other test uses.</summary>
public static class IsolatedRelay
{
    /// <summary>Its settings: the test's Azurite, names of its own, and events to <paramref name="dryRunFile"/> unless HubSpot is configured.</summary>
    public static Dictionary<string, string?> Settings(Azurite azurite, string dryRunFile)
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        return new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = azurite.ConnectionString,
            ["Relay:BeaconQueue"] = "beacons-" + id,
            ["Relay:ScheduleQueue"] = "scheduled-" + id,
            ["Relay:SessionsTable"] = "sessions" + id,
            ["Relay:TokensTable"] = "tokens" + id,
            ["Relay:DeadLettersTable"] = "dead" + id,
            ["Relay:MediaObjectsTable"] = "media" + id,
            ["Relay:PoisonedTable"] = "poisoned" + id,
            ["Relay:KeysTable"] = "keys" + id,
            ["Relay:MetricsTable"] = "metrics" + id,
            ["Relay:QuotasTable"] = "quotas" + id,
            ["Relay:ScheduleTable"] = "schedule" + id,
            ["Relay:ForgottenTable"] = "forgotten" + id,
            ["Relay:PublicBaseUrl"] = "https://relay.test",
            ["Relay:OEmbedHosts"] = "cdn.example.com,127.0.0.1",
            ["HubSpot:DryRunFile"] = dryRunFile,
        };
    }

    /// <summary>The services of <c>AddRelay()</c> on those settings, with its queue and tables created, as a host would start them.</summary>
    public static async Task<ServiceProvider> StartServicesAsync(IEnumerable<KeyValuePair<string, string?>> settings, Action<IServiceCollection>? configure = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging().AddRelay(configuration).AddStorageCreation();
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider();
        foreach (var hosted in provider.GetServices<IHostedService>())
            await hosted.StartAsync(CancellationToken.None);
        return provider;
    }
}
