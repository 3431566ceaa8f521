using FunctionsRelay.Cli;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.IntegrationTests;

/// <summary><c>relay setup</c> against the stand-in HubSpot's app settings and v1 event endpoints, with the relay's storage on Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class SetupCommandTests(Azurite azurite) : IAsyncLifetime
{
    private const long Portal = 6060;
    private FakeHubSpot _hubSpot = null!;
    private ServiceProvider _services = null!;

    public async Task InitializeAsync()
    {
        _hubSpot = await FakeHubSpot.StartAsync(registeredMediaTypes: []);
        _services = await StartRelayAsync(FakeHubSpot.DeveloperApiKey);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _hubSpot.DisposeAsync();
    }

    private async Task<ServiceProvider> StartRelayAsync(string? developerKey)
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        foreach (var (key, value) in _hubSpot.RelaySettings)
            settings[key] = value;
        settings["HubSpot:AppId"] = FakeHubSpot.AppId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["HubSpot:DeveloperApiKey"] = developerKey;
        return await IsolatedRelay.StartServicesAsync(settings);
    }

    private async Task<(int Exit, string Output)> RunAsync(IServiceProvider services, params string[] args)
    {
        var (exit, text) = await Cli.RunAsync(services, args);
        foreach (var secret in _hubSpot.IssuedSecrets)
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        return (exit, text);
    }

    [Fact]
    public async Task Setup_registers_the_apps_media_bridge_settings_once_however_often_it_runs()
    {
        var first = await RunAsync(_services, "setup", "--app-name", "Acme Video");
        var writesAfterFirst = _hubSpot.SettingsWrites.ToList();
        var second = await RunAsync(_services, "setup", "--app-name", "Acme Video");

        Assert.Equal(RelayCli.Done, first.Exit);
        Assert.Equal(RelayCli.Done, second.Exit);
        Assert.Contains("ok   object definitions: defined VIDEO, AUDIO", first.Output, StringComparison.Ordinal);
        Assert.Contains("ok   object definitions: VIDEO, AUDIO already defined", second.Output, StringComparison.Ordinal);
        Assert.Contains("ok   oEmbed domain: https://relay.test/api/oembed already registered", second.Output, StringComparison.Ordinal);
        Assert.Equal(["AUDIO", "VIDEO"], _hubSpot.RegisteredMediaTypes.Keys.Order());
        Assert.Equal("Acme Video", _hubSpot.AppSettings.Name);
        Assert.Equal((true, true, true), _hubSpot.AppSettings.Visibility["ALL"]);
        var domain = Assert.Single(_hubSpot.AppSettings.OEmbedDomains.Values);
        Assert.Equal("https://relay.test/api/oembed", domain.Endpoints.GetProperty("url").GetString());
        Assert.Equal(["https://cdn.example.com/*", "https://127.0.0.1/*"], domain.Endpoints.GetProperty("schemes").EnumerateArray().Select(s => s.GetString()));
        // The second run writes only what cannot be read back first (name and visibility, each a PUT/PATCH of the same values).
        Assert.Equal(["object-definitions", "settings", "event-visibility", "oembed-domains"], writesAfterFirst);
        Assert.Equal(["settings", "event-visibility"], _hubSpot.SettingsWrites.Skip(writesAfterFirst.Count));
    }

    [Fact]
    public async Task Check_sends_one_event_of_each_kind_to_the_synchronous_endpoints_and_prints_hubspots_answers()
    {
        await _hubSpot.ConnectPortalAsync(_services.GetRequiredService<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));

        var (exit, output) = await RunAsync(_services, "setup", "--check", "--portal", "6060", "--utk", "utk-setup");

        Assert.True(exit == RelayCli.Done, output);
        var media = Assert.Single(_hubSpot.Objects.Values);
        Assert.Equal(MediaBridgeCheck.CheckMediaId, media.ExternalId);
        Assert.Equal(
            ["/media-bridge/v1/events/media-played", "/media-bridge/v1/events/media-played-percent", "/media-bridge/v1/events/attention-span"],
            _hubSpot.Received.Select(e => e.Path));
        Assert.All(_hubSpot.Received, e => Assert.Equal(media.Id, e.Json.GetProperty("mediaBridgeId").GetInt64()));
        Assert.Equal(3, output.Split('\n').Count(line => line.StartsWith("ok   /media-bridge/v1/events/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Check_prints_what_hubspot_says_of_an_event_it_would_not_keep()
    {
        // The app has no media types yet, and setup is told to define none it can use for the check's video.
        await _hubSpot.ConnectPortalAsync(_services.GetRequiredService<PortalTokenStore>(), Portal, TimeSpan.FromMinutes(30));

        var (exit, output) = await RunAsync(_services, "setup", "--media-types", "AUDIO", "--check", "--portal", "6060", "--utk", "utk-setup");

        Assert.Equal(RelayCli.Failed, exit);
        Assert.Contains("FAIL media object: 400", output, StringComparison.Ordinal);
        Assert.Contains("VIDEO is not a media type of this app", output, StringComparison.Ordinal);
        _hubSpot.Refused.Clear();
    }

    [Fact]
    public async Task Without_the_developer_key_or_with_a_wrong_one_setup_fails_and_says_why()
    {
        await using var withoutKey = await StartRelayAsync(developerKey: null);
        await using var wrongKey = await StartRelayAsync(developerKey: "not-the-key");

        var missing = await RunAsync(withoutKey, "setup");
        var wrong = await RunAsync(wrongKey, "setup");

        Assert.Equal((RelayCli.Failed, RelayCli.Failed), (missing.Exit, wrong.Exit));
        Assert.Contains("HubSpot__DeveloperApiKey is not set", missing.Output, StringComparison.Ordinal);
        Assert.Contains("FAIL object definitions: reading VIDEO: HubSpot answered 401", wrong.Output, StringComparison.Ordinal);
        Assert.Empty(_hubSpot.SettingsWrites);
    }

    [Theory]
    [InlineData("setup --check --portal 6060", "--check needs --portal and --utk or --contact-id")]
    [InlineData("setup --media-types VIDEO,MOVIE", "--media-types: MOVIE is not one of VIDEO, AUDIO, DOCUMENT, IMAGE, OTHER")]
    [InlineData("setup --portal x", "--portal must be a positive integer")]
    [InlineData("setup --colour red", "Unrecognized command or argument '--colour'")]
    [InlineData("setup --app-name --check", "--app-name needs a value ('--check' is an option)")]
    [InlineData("replay", "unknown verb 'replay'")]
    public async Task A_wrong_command_line_exits_2_and_names_the_problem(string line, string problem)
    {
        var (exit, output) = await RunAsync(_services, line.Split(' '));

        Assert.Equal(RelayCli.Usage, exit);
        Assert.StartsWith($"relay: {problem}", output, StringComparison.Ordinal);
        Assert.Empty(_hubSpot.SettingsWrites);
    }

    [Fact]
    public async Task Help_exits_0_and_describes_setup()
    {
        var (exit, output) = await RunAsync(_services, "--help");

        Assert.Equal(RelayCli.Done, exit);
        Assert.Contains("relay setup [--app-id ID]", output, StringComparison.Ordinal);
        Assert.Empty(_hubSpot.SettingsWrites);
    }
}
