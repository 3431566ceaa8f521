using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace FunctionsRelay.Functions;

public static class RelayLogging
{
    /// <summary>
    /// The worker's log levels, below every other setting (<c>Logging__LogLevel__Azure=Information</c> overrides them): the
    /// relay's own lines from Information, the SDKs' (every storage request of Azure.Core, every HTTP call) from Warning,
    /// so that Application Insights gets what an operator reads and not a line per storage call.
    /// </summary>
    private static readonly Dictionary<string, string?> DefaultLevels = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft"] = "Warning",
        ["Logging:LogLevel:Azure"] = "Warning",
        ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
        ["Logging:LogLevel:Polly"] = "Warning",
    };

    /// <summary>
    /// The relay's log lines go where <see cref="TelemetryExtensions.AddRelayTelemetry"/> exports them (Application
    /// Insights, OTLP); without either, to the worker's standard output, one line each, which the Functions host shows
    /// as <c>Host.Function.Console</c> (<c>func start</c>'s console and its log).
    /// </summary>
    public static FunctionsApplicationBuilder AddRelayLogging(this FunctionsApplicationBuilder builder)
    {
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = DefaultLevels });
        if (!TelemetryExtensions.ExportsLogs(builder.Configuration))
        {
            builder.Logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        }

        return builder;
    }
}
