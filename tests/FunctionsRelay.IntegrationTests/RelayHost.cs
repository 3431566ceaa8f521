using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using FunctionsRelay.Local;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// The local host (its real Program, on Kestrel over loopback HTTP) against the test's Azurite and, when given, the fake
/// HubSpot. Each host gets its own queue and tables, and keeps every log line it wrote.
/// </summary>
public sealed class RelayHost : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    public RelayHost(Azurite azurite, FakeHubSpot? hubSpot, Dictionary<string, string?>? settings = null)
    {
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
        Client = CreateClient();
    }

    /// <summary>host.json's queue settings, which a setting of the same path overrides as an app setting does on Azure.</summary>
    public const string QueueSettings = $"{HostJsonConfiguration.Section}:extensions:queues";

    public HttpClient Client { get; }

    public ConcurrentQueue<string> Logs { get; } = new();

    public string DryRunFile => _settings["HubSpot:DryRunFile"]!;

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
            logging.AddProvider(new CollectingLoggerProvider(Logs));
        });
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

    private sealed class CollectingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new CollectingLogger(categoryName, lines);

        public void Dispose()
        {
        }
    }

    private sealed class CollectingLogger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
