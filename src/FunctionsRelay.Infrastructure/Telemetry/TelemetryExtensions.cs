using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace FunctionsRelay.Infrastructure.Telemetry;

public static class TelemetryExtensions
{
    /// <summary>
    /// Exports the relay's counters to the metrics table (<see cref="MetricsTableExporter"/>), and them, the HubSpot and
    /// storage calls (traces) and the relay's log lines with OpenTelemetry: to Application Insights
    /// when <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> is set (as the app's managed identity when
    /// <c>APPLICATIONINSIGHTS_AUTHENTICATION_STRING</c> names one: local auth is off), else to an OTLP endpoint when
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, else counters and traces to the console when <c>Telemetry__Console</c>
    /// is true, else nowhere (log lines then go to the host's own console: <see cref="ExportsLogs"/>).
    /// </summary>
    /// <remarks>
    /// The log lines are the relay's to export: the Functions app declares that its worker sends its own telemetry
    /// (<c>UseFunctionsWorkerDefaults</c>, capability <c>WorkerOpenTelemetryEnabled</c>), and then neither the worker
    /// passes its log lines to the Functions host nor the host forwards them. The alerts of the deployment read them in
    /// Application Insights' <c>traces</c>, each line's formatted message as <c>message</c>.
    /// </remarks>
    public static IServiceCollection AddRelayTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var applicationInsights = configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"];
        var credential = ApplicationInsightsCredential(configuration["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]);
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var console = configuration.GetValue<bool>("Telemetry:Console");
        services.AddOpenTelemetry()
            .WithLogging(
                logging =>
                {
                    if (!string.IsNullOrWhiteSpace(applicationInsights))
                        logging.AddAzureMonitorLogExporter(o => (o.ConnectionString, o.Credential) = (applicationInsights, credential));
                    else if (otlp)
                        logging.AddOtlpExporter();
                },
                options => options.IncludeFormattedMessage = true)
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(RelayMetrics.MeterName).AddHttpClientInstrumentation();
                // The operator view's source, whatever else the counters go to.
                metrics.AddReader(provider => new PeriodicExportingMetricReader(
                    new MetricsTableExporter(
                        provider.GetRequiredService<DeliveryFigures>().Table,
                        provider.GetRequiredService<TimeProvider>(),
                        provider.GetRequiredService<ILogger<MetricsTableExporter>>()),
                    (int)provider.GetRequiredService<IOptions<RelayOptions>>().Value.MetricsInterval.TotalMilliseconds)
                {
                    TemporalityPreference = MetricReaderTemporalityPreference.Delta,
                });
                if (!string.IsNullOrWhiteSpace(applicationInsights))
                    metrics.AddAzureMonitorMetricExporter(o => (o.ConnectionString, o.Credential) = (applicationInsights, credential));
                else if (otlp)
                    metrics.AddOtlpExporter();
                else if (console)
                    metrics.AddConsoleExporter();
            })
            .WithTracing(tracing =>
            {
                // The Azure SDKs' own activity sources: storage calls as dependencies.
                tracing.AddSource("Azure.*").AddHttpClientInstrumentation().AddProcessor(new UtkRedaction.Processor());
                if (!string.IsNullOrWhiteSpace(applicationInsights))
                    tracing.AddAzureMonitorTraceExporter(o => (o.ConnectionString, o.Credential) = (applicationInsights, credential));
                else if (otlp)
                    tracing.AddOtlpExporter();
                else if (console)
                    tracing.AddConsoleExporter();
            });
        return services;
    }

    /// <summary>
    /// Whether the relay's log lines leave the process by OpenTelemetry (Application Insights or OTLP): where they do not,
    /// a host writes them to its console (the Functions app's worker to its standard output, which <c>func start</c> and
    /// the Functions host show).
    /// </summary>
    public static bool ExportsLogs(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"]) || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

    /// <summary>
    /// <c>ClientId=&lt;id&gt;;Authorization=AAD</c> (what the deployment sets): that user-assigned identity; <c>Authorization=AAD</c>
    /// alone: the system-assigned one; nothing: no credential (the connection string's key, where local auth is on).
    /// </summary>
    public static TokenCredential? ApplicationInsightsCredential(string? authentication)
    {
        if (string.IsNullOrWhiteSpace(authentication))
            return null;
        var parts = authentication.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(part => part.Split('=', 2))
            .Where(pair => pair.Length == 2)
            .ToDictionary(pair => pair[0], pair => pair[1], StringComparer.OrdinalIgnoreCase);
        if (!string.Equals(parts.GetValueOrDefault("Authorization"), "AAD", StringComparison.OrdinalIgnoreCase))
            return null;
        return parts.TryGetValue("ClientId", out var clientId) && clientId.Length > 0
            ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
            : new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned);
    }
}
