using System.Text;
using System.Text.RegularExpressions;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Ingest;
using FunctionsRelay.Infrastructure.Processing;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// The relay's own log lines as the deployment's alerts read them: exported by the Azure Monitor exporter to Application
/// Insights (here a stand-in of its ingestion endpoint), where each query of infra/core/monitor/monitoring.bicep finds them.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed partial class AlertTelemetryTests(Azurite azurite) : WithFakeHubSpot
{
    [Fact]
    public async Task Every_line_an_alert_queries_reaches_application_insights_traces()
    {
        await using var insights = await FakeApplicationInsights.StartAsync();
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        foreach (var (key, value) in HubSpot.RelaySettings)
            settings[key] = value;
        settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] = insights.ConnectionString;
        // Any event delivered later than this after it was due is "behind".
        settings["Relay:BacklogWarningAfter"] = "00:00:00.001";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        const long Portal = 7171;

        await using (var relay = new ServiceCollection().AddLogging().AddRelay(configuration).AddStorageCreation().AddRelayTelemetry(configuration).BuildServiceProvider())
        {
            foreach (var hosted in relay.GetServices<IHostedService>())
                await hosted.StartAsync(CancellationToken.None);

            // A portal behind: a session's events delivered after they were due.
            await HubSpot.ConnectPortalAsync(relay.GetRequiredService<PortalTokenStore>(), Portal, TimeSpan.FromHours(1));
            var session = SessionBeacons.Typical(Portal, "alerted-1");
            Assert.True((await relay.GetRequiredService<BeaconIngestService>().IngestAsync(Encoding.UTF8.GetBytes(SessionBeacons.Json(session.Beacons)), CancellationToken.None)).IsValid);
            var queue = relay.GetRequiredService<BeaconQueue>().Queue;
            foreach (var message in (await queue.ReceiveMessagesAsync(10)).Value)
                await relay.GetRequiredService<SessionProcessor>().HandleAsync(message.Body, CancellationToken.None);

            // A portal whose refresh token HubSpot refuses.
            var (_, refresh) = await HubSpot.ConnectPortalAsync(relay.GetRequiredService<PortalTokenStore>(), Portal + 1, TimeSpan.FromMinutes(1));
            HubSpot.RevokeRefreshToken(refresh);
            await relay.GetRequiredService<TokenService>().RefreshExpiringAsync(CancellationToken.None);

            // A message the queue listener gave up on.
            await relay.GetRequiredService<PoisonHandler>().HandleBeaconAsync("poisoned-1", BinaryData.FromString("not a relay message"), CancellationToken.None);
        }

        // Disposed: the log exporter has sent what it held.
        var queries = AlertQueries();
        Assert.Equal(3, queries.Count);
        foreach (var (op, text) in queries)
        {
            Assert.True(
                insights.Messages.Any(message => op == "startswith" ? message.StartsWith(text, StringComparison.OrdinalIgnoreCase) : message.Contains(text, StringComparison.OrdinalIgnoreCase)),
                $"no trace whose message {op} \"{text}\" among:\n{string.Join("\n", insights.Messages)}");
        }
    }

    /// <summary>The deployment's alert queries on <c>traces</c>: each <c>message startswith "..."</c> or <c>message has "..."</c>.</summary>
    private static List<(string Op, string Text)> AlertQueries() =>
        TraceQuery().Matches(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "infra", "core", "monitor", "monitoring.bicep")))
            .Select(match => (match.Groups[1].Value, match.Groups[2].Value))
            .ToList();

    [GeneratedRegex("traces \\| where message (startswith|has) \"([^\"]+)\"")]
    private static partial Regex TraceQuery();
}
