using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Local;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// The local host (its real Program, on Kestrel over loopback HTTP) against the test's Azurite and, when given, the fake
/// HubSpot. Each host gets its own queue and tables, and keeps every log line it wrote.
/// </summary>
public sealed partial class RelayHost : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    private readonly Action<IServiceCollection>? _services;

    public RelayHost(Azurite azurite, FakeHubSpot? hubSpot, Dictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        _services = services;
        _settings = IsolatedRelay.Settings(azurite, Path.Combine(Path.GetTempPath(), $"relay-dry-run-{Guid.NewGuid():N}.jsonl"));
        foreach (var (key, value) in new Dictionary<string, string?>
        {
            ["Relay:AllowedOrigins"] = "https://player.example.com",
            [$"{QueueSettings}:maxPollingInterval"] = "00:00:00.200",
            [$"{QueueSettings}:visibilityTimeout"] = "00:00:00.200",
            ["Sessions:EndGracePeriod"] = "00:00:02",
            ["HubSpot:NoTokenRetryDelay"] = "00:00:01",
            ["HubSpot:OutageRetryDelay"] = "00:00:01",
            ["HubSpot:MaxInlineRetryAfter"] = "00:00:01",
        }.Concat(hubSpot?.RelaySettings ?? []))
        {
            _settings[key] = value;
        }

        foreach (var (key, value) in settings ?? [])
            _settings[key] = value;
        UseKestrel(0);
        StartServer();
        Client = CreateDefaultClient(new PortalKeys(this));
        RawClient = CreateClient();
    }

    /// <summary>host.json's queue settings, which a setting of the same path overrides as an app setting does on Azure.</summary>
    public const string QueueSettings = $"{HostJsonConfiguration.Section}:extensions:queues";

    /// <summary>A client that posts beacons as their portal's own players do: with its publishable key, when it has one.</summary>
    public HttpClient Client { get; }

    /// <summary>A client that adds nothing: for tests of what a request without the right key gets.</summary>
    public HttpClient RawClient { get; }

    public ConcurrentQueue<string> Logs { get; } = new();

    public string DryRunFile => _settings["HubSpot:DryRunFile"]!;

    /// <summary>The settings it runs with: its own queue and tables, for a second relay (a command line) on the same storage.</summary>
    public IReadOnlyDictionary<string, string?> Settings => _settings;

    public T Service<T>()
        where T : notnull => Services.GetRequiredService<T>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Urls", "http://127.0.0.1:0");
        foreach (var (key, value) in _settings)
            builder.UseSetting(key, value);
        builder.ConfigureLogging(logging =>
        {
            logging.ClearProviders();
            logging.SetMinimumLevel(LogLevel.Debug);
            logging.AddProvider(new CapturedLogs(Logs));
        });
        if (_services is { } configure)
            builder.ConfigureServices(configure);
    }

    /// <summary>Waits until the condition holds, or fails the test with the message.</summary>
    public async Task EventuallyAsync(Func<bool> condition, string message, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out after {seconds} s: {message}. The host's last log lines:\n{string.Join("\n", Logs.TakeLast(25))}");
            await Task.Delay(100);
        }
    }

    /// <summary>Adds the <c>X-Relay-Key</c> of the portal a beacon request names (its first <c>portalId</c>), if that portal has one.</summary>
    private sealed partial class PortalKeys(RelayHost host) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Post && request.RequestUri!.AbsolutePath.EndsWith("/api/beacons", StringComparison.Ordinal)
                && !request.Headers.Contains(BeaconEndpoint.KeyHeader) && request.Content is { } content
                && PortalId().Match(await content.ReadAsStringAsync(cancellationToken)) is { Success: true } match
                && await KeyOfAsync(long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), cancellationToken) is { } key)
            {
                request.Headers.Add(BeaconEndpoint.KeyHeader, key);
            }

            return await base.SendAsync(request, cancellationToken);
        }

        /// <summary>The portal's key; none while storage is out of reach (the relay then answers for itself).</summary>
        private async Task<string?> KeyOfAsync(long portalId, CancellationToken cancellationToken)
        {
            try
            {
                return (await host.Service<PortalTokenStore>().GetAccessAsync(portalId, cancellationToken))?.Key;
            }
            catch (Azure.RequestFailedException)
            {
                return null;
            }
        }

        [System.Text.RegularExpressions.GeneratedRegex("\"(?:portalId|hubspot_portal_id)\"\\s*:\\s*\"?([0-9]+)")]
        private static partial System.Text.RegularExpressions.Regex PortalId();
    }
}
