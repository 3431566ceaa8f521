using Microsoft.Extensions.Configuration.Memory;

namespace FunctionsRelay.Local;

/// <summary>
/// host.json as the Functions host reads it: under <c>AzureFunctionsJobHost</c>, below every other source, so that an
/// app setting such as <c>AzureFunctionsJobHost__extensions__queues__batchSize</c> overrides it as it does on Azure.
/// </summary>
public static class HostJsonConfiguration
{
    public const string Section = "AzureFunctionsJobHost";

    /// <summary>The WebJobs SDK reads its extensions' options from the section this key names.</summary>
    private const string WebJobsSectionKey = "AzureWebJobsConfigurationSection";

    public static IConfigurationBuilder AddHostJson(this IConfigurationBuilder configuration, string path)
    {
        var hostJson = new ConfigurationBuilder().AddJsonFile(path, optional: false).Build();
        var values = hostJson.AsEnumerable()
            .Where(pair => pair.Value is not null)
            .Select(pair => KeyValuePair.Create($"{Section}:{pair.Key}", pair.Value))
            .Append(KeyValuePair.Create<string, string?>(WebJobsSectionKey, Section));
        configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = values });
        return configuration;
    }
}
