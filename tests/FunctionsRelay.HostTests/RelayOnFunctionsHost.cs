using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.HostTests;

/// <summary>
/// A test that needs a real Functions host: skipped, saying why, where there is none; on CI (<c>CI=true</c>) it runs and
/// fails instead, so that a CI machine without the host cannot pass by skipping.
/// </summary>
public sealed class HostFactAttribute : FactAttribute
{
    public HostFactAttribute()
    {
        if (FunctionsHostLocation.Missing is { } why && !FunctionsHostLocation.Required)
            Skip = why;
    }
}

[CollectionDefinition(Name)]
public sealed class HostCollection : ICollectionFixture<RelayOnFunctionsHost>
{
    public const string Name = "Functions host";
}

/// <summary>
/// The Functions app as a user runs it: published, on a real Functions host, with local.settings.sample.json's settings,
/// against a fresh Azurite nothing has set up and a stand-in HubSpot (not a dry run). Timers and timeouts are shortened
/// so that a test sees them work within seconds.
/// </summary>
public sealed class RelayOnFunctionsHost : IAsyncLifetime, IAsyncDisposable
{
    private readonly AzuriteProcess _azurite = new(RepositoryPaths.Root, dataFolder: null);
    private FunctionsHost? _host;

    public FakeHubSpot HubSpot { get; private set; } = null!;

    public FunctionsHost Host => _host ?? throw new InvalidOperationException(FunctionsHostLocation.Missing ?? "the host did not start");

    public HttpClient Http { get; private set; } = null!;

    public StorageClients Storage { get; private set; } = null!;

    /// <summary>The settings the host runs with (local.settings.sample.json's, and the test's).</summary>
    public Dictionary<string, string> Settings { get; private set; } = [];

    public PortalTokenStore Tokens => new(Storage, Options.Create(new RelayOptions()), TimeProvider.System);

    public async Task InitializeAsync()
    {
        if (FunctionsHostLocation.Missing is { } missing)
        {
            if (FunctionsHostLocation.Required)
                throw new InvalidOperationException($"CI=true and {missing}");
            return;
        }

        await _azurite.StartAsync();
        HubSpot = await FakeHubSpot.StartAsync();
        Storage = new StorageClients(new ConfigurationBuilder().AddInMemoryCollection([new("AzureWebJobsStorage", _azurite.ConnectionString)]).Build());
        var configuration = typeof(RelayOnFunctionsHost).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "Configuration").Value!;
        var app = await FunctionsHost.PublishAsync(configuration);
        var port = Ports.Free();
        var baseUrl = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        Settings = FunctionsHost.SampleSettings();
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["AzureWebJobsStorage"] = _azurite.ConnectionString,
            ["HubSpot__ClientId"] = FakeHubSpot.ClientId,
            ["HubSpot__ClientSecret"] = FakeHubSpot.ClientSecret,
            ["HubSpot__BaseUrl"] = HubSpot.BaseUrl.ToString(),
            ["HubSpot__RedirectUri"] = baseUrl + "/api/oauth/callback",
            ["HubSpot__DryRunFile"] = Path.Combine(Path.GetTempPath(), $"host-dry-run-{Guid.NewGuid():N}.jsonl"),
            ["HubSpot__NoTokenRetryDelay"] = "00:00:02",
            ["HubSpot__OutageRetryDelay"] = "00:00:02",
            ["Relay__PublicBaseUrl"] = baseUrl,
            ["Relay__OEmbedHosts"] = "cdn.example.com",
            // Sessions end within seconds; their close checks wait in table schedule, so that only the sweep timer ends them.
            ["Sessions__IdleTimeout"] = "00:00:06",
            ["Sessions__EndGracePeriod"] = "00:00:02",
            ["Relay__ScheduledCheckTableAfter"] = "00:00:02",
            ["TokenRefreshSchedule"] = "*/2 * * * * *",
        })
        {
            Settings[key] = value;
        }

        _host = await FunctionsHost.StartAsync(app, port, Settings);
        Http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = _host.BaseUrl };
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_host is not null)
            await _host.DisposeAsync();
        if (HubSpot is not null)
            await HubSpot.DisposeAsync();
        await _azurite.DisposeAsync();
    }

    /// <summary>
    /// Installs the app in <paramref name="portalId"/> as a browser would, through the host's routes: the install redirects
    /// to HubSpot with a signed state and sets the nonce cookie, HubSpot sends the browser back with a code. The key the
    /// install page shows.
    /// </summary>
    public async Task<string> InstallAsync(long portalId)
    {
        var install = await Http.GetAsync("/api/oauth/install");
        Assert.Equal(HttpStatusCode.Redirect, install.StatusCode);
        var state = QueryHelpers.ParseQuery(install.Headers.Location!.Query)["state"].ToString();
        using var callback = new HttpRequestMessage(HttpMethod.Get, $"/api/oauth/callback?code=code-for-{portalId}&state={Uri.EscapeDataString(state)}");
        foreach (var cookie in install.Headers.GetValues("Set-Cookie"))
            callback.Headers.Add("Cookie", cookie.Split(';')[0]);
        var answer = await Http.SendAsync(callback);
        var page = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.OK, $"the callback answered {answer.StatusCode}: {page}");
        return Regex.Match(page, "publishable key: (pk_[A-Za-z0-9_-]+)").Groups[1].Value;
    }

    /// <summary>Waits until the condition holds, or fails with the message and the end of the host's log.</summary>
    public async Task EventuallyAsync(Func<Task<bool>> condition, string message, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out after {seconds} s: {message}. The host's last lines:\n{string.Join("\n", Host.Log.Split('\n').TakeLast(60))}");
            await Task.Delay(250);
        }
    }

    public Task EventuallyAsync(Func<bool> condition, string message, int seconds = 60) =>
        EventuallyAsync(() => Task.FromResult(condition()), message, seconds);
}
