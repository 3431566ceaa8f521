using System.Text;
using System.Text.Json;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Functions.Tests;

/// <summary>The Functions app's triggers, called as the host would call them, on the services of <c>AddRelay()</c> and Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class FunctionTests(Azurite azurite) : IAsyncLifetime
{
    private readonly string _dryRunFile = Path.Combine(Path.GetTempPath(), $"functions-dry-run-{Guid.NewGuid():N}.jsonl");
    private ServiceProvider _services = null!;

    public async Task InitializeAsync()
    {
        var settings = IsolatedRelay.Settings(azurite, _dryRunFile);
        settings["Relay:AllowedOrigins"] = "https://player.example.com";
        _services = await IsolatedRelay.StartServicesAsync(settings, services => services.AddSingleton<RelayFunctions>());
    }

    public async Task DisposeAsync() => await _services.DisposeAsync();

    private static async Task<(int Status, string Body)> ExecuteAsync(IResult result, HttpContext context)
    {
        context.RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider();
        context.Response.Body = new MemoryStream();
        await result.ExecuteAsync(context);
        context.Response.Body.Position = 0;
        return (context.Response.StatusCode, await new StreamReader(context.Response.Body).ReadToEndAsync());
    }

    [Fact]
    public async Task Beacons_posted_to_the_http_trigger_and_handed_to_the_queue_trigger_become_hubspot_events()
    {
        var functions = _services.GetRequiredService<RelayFunctions>();
        var ts = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds();
        var body = $$$"""
            [{"portalId":4242,"sessionId":"fn-1","seq":0,"event":"play","ts":{{{ts}}},"position":0,"duration":20,
              "media":{"externalId":"v-1","type":"AUDIO"},"contact":{"utk":"u-1"},"page":{"id":77}},
             {"portalId":4242,"sessionId":"fn-1","seq":1,"event":"pause","ts":{{{ts + 10_000}}},"position":10},
             {"portalId":4242,"sessionId":"fn-1","seq":2,"event":"end","ts":{{{ts + 11_000}}},"position":10}]
            """;
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.ContentType = "text/plain;charset=UTF-8";
        context.Request.Headers.Origin = "https://player.example.com";
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body));

        var (status, answer) = await ExecuteAsync(await functions.PostBeacons(context.Request, CancellationToken.None), context);

        Assert.Equal(202, status);
        Assert.Equal("{\"accepted\":3,\"ignored\":0}", answer);
        Assert.Equal("https://player.example.com", context.Response.Headers.AccessControlAllowOrigin.ToString());

        var queue = _services.GetRequiredService<BeaconQueue>().Queue;
        var message = Assert.Single((await queue.ReceiveMessagesAsync(10)).Value);
        await functions.ProcessBeacons(message.Body, CancellationToken.None);

        var lines = File.ReadAllLines(_dryRunFile).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal(["played", "quartile-0", "quartile-25", "quartile-50", "attention-span"], lines.Select(l => l.GetProperty("event").GetString()));
        Assert.All(lines, line => Assert.Equal("AUDIO", line.GetProperty("payload").GetProperty("mediaType").GetString()));
        Assert.All(lines, line => Assert.Equal(77, line.GetProperty("payload").GetProperty("pageId").GetInt64()));
    }

    [Fact]
    public async Task A_bad_request_to_the_http_trigger_gets_a_400_naming_the_field()
    {
        var functions = _services.GetRequiredService<RelayFunctions>();
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.ContentType = "application/json";
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes("""{"portalId":"x"}"""));

        var (status, answer) = await ExecuteAsync(await functions.PostBeacons(context.Request, CancellationToken.None), context);

        Assert.Equal(400, status);
        var errors = JsonDocument.Parse(answer).RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString());
        Assert.Contains("portalId: must be an integer >= 1 (got a string of 1 character)", errors);
    }

    [Fact]
    public async Task A_poisoned_message_handed_to_its_trigger_is_kept_with_its_queue_portal_and_session()
    {
        var functions = _services.GetRequiredService<RelayFunctions>();
        var message = new RelayMessage(RelayMessageKind.CloseCheck, 4242, "poisoned-check", DueAt: 1);
        var queueMessage = Azure.Storage.Queues.Models.QueuesModelFactory.QueueMessage("message-1", "receipt", new BinaryData(message.ToUtf8Json()), 5);

        await functions.KeepPoisonedScheduled(queueMessage, CancellationToken.None);

        var kept = Assert.Single(await _services.GetRequiredService<PoisonedMessageStore>().ListAsync(4242, null, CancellationToken.None));
        Assert.Equal((_services.GetRequiredService<Microsoft.Extensions.Options.IOptions<RelayOptions>>().Value.ScheduleQueue, "message-1", "poisoned-check", RelayMessageKind.CloseCheck), (kept.Queue, kept.MessageId, kept.SessionId, kept.Kind));
    }

    [Fact]
    public async Task The_operator_functions_serve_the_operator_page_and_every_portals_figures_from_storage()
    {
        var functions = _services.GetRequiredService<RelayFunctions>();
        await _services.GetRequiredService<PortalTokenStore>().SaveAsync(
            new PortalToken(7373, "access-operator-test", "refresh-operator-test", DateTimeOffset.UtcNow.AddHours(1), PortalStatus.Connected), overwrite: true, CancellationToken.None);

        var page = new DefaultHttpContext();
        var (pageStatus, html) = await ExecuteAsync(functions.OperatorPage(page.Request), page);
        var health = new DefaultHttpContext();
        health.Request.QueryString = new QueryString("?portal=7373&code=the-hosts-key");
        var (healthStatus, figures) = await ExecuteAsync(await functions.OperatorHealth(health.Request, CancellationToken.None), health);
        var wrong = new DefaultHttpContext();
        wrong.Request.QueryString = new QueryString("?portal=all");
        var (wrongStatus, wrongAnswer) = await ExecuteAsync(await functions.OperatorHealth(wrong.Request, CancellationToken.None), wrong);

        Assert.Equal((200, "text/html; charset=utf-8"), (pageStatus, page.Response.ContentType));
        // Relative, with the page's query: under the host's /api prefix and with the key the page was opened with.
        Assert.Contains("fetch('operator/api/health' + location.search)", html, StringComparison.Ordinal);
        Assert.Equal(200, healthStatus);
        var portal = Assert.Single(JsonDocument.Parse(figures).RootElement.GetProperty("portals").EnumerateArray());
        Assert.Equal(7373, portal.GetProperty("portalId").GetInt64());
        Assert.DoesNotContain("access-operator-test", figures, StringComparison.Ordinal);
        Assert.Equal((400, "portal: must be a HubSpot account id (digits), or left out for every portal"), (wrongStatus, JsonDocument.Parse(wrongAnswer).RootElement.GetProperty("errors")[0].GetString()));
    }

    /// <summary>
    /// The same Chromium script as the local view's, against the Functions app's two operator functions served under the
    /// host's <c>/api</c> prefix by a loopback server standing in for the host's routing (the host's key check is not
    /// stood in for: the Functions host cannot run here). The page is opened with <c>?code=</c>, as an operator opens it.
    /// </summary>
    [Fact]
    public async Task The_operator_view_of_the_functions_app_shows_a_portal_in_chromium_under_the_api_prefix_with_its_key()
    {
        var functions = _services.GetRequiredService<RelayFunctions>();
        await _services.GetRequiredService<PortalTokenStore>().SaveAsync(
            new PortalToken(7474, "access-browser-test", "refresh-browser-test", DateTimeOffset.UtcNow.AddHours(1), PortalStatus.Connected), overwrite: true, CancellationToken.None);
        var healthQueries = new System.Collections.Concurrent.ConcurrentBag<string>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapGet("/api/" + Infrastructure.Http.OperatorViewEndpoint.Route, (HttpRequest request) => functions.OperatorPage(request));
        app.MapGet("/api/" + Infrastructure.Http.OperatorViewEndpoint.HealthRoute, (HttpRequest request, CancellationToken cancellationToken) =>
        {
            healthQueries.Add(request.QueryString.Value ?? "");
            return functions.OperatorHealth(request, cancellationToken);
        });
        await app.StartAsync();
        var baseUrl = app.Urls.First() + "/api";
        var artifacts = Path.Combine(BrowserScript.Artifacts, "functions");

        var shown = await BrowserScript.RunAsync("operator-view.mjs", baseUrl, "7474", artifacts, "?code=the-master-key");

        Assert.EndsWith("/api/operator?code=the-master-key", shown.GetProperty("url").GetString(), StringComparison.Ordinal);
        Assert.Contains("?code=the-master-key", healthQueries);
        var figures = shown.GetProperty("hour").GetProperty("figures");
        // A portal installed a moment ago: its storage state, and no counters yet.
        Assert.StartsWith("Token: connected (expires ", figures.GetProperty("token").GetString(), StringComparison.Ordinal);
        Assert.Equal(("0", "0", "0"), (figures.GetProperty("open").GetString(), figures.GetProperty("outbox").GetString(), figures.GetProperty("dead-letters").GetString()));
        Assert.False(figures.TryGetProperty("accepted", out _));
        BrowserScript.AssertScreenshots(shown, artifacts);
    }

    [Fact]
    public void The_build_gives_the_host_its_queue_extension_under_azurefunctions()
    {
        // What the Functions host loads next to the worker: the host-side queue extension the triggers need.
        var extensions = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "extensions.json"))).RootElement.GetProperty("extensions");
        var queues = Assert.Single(extensions.EnumerateArray(), e => e.GetProperty("name").GetString() == "AzureStorageQueues");
        Assert.StartsWith("Microsoft.Azure.WebJobs.Extensions.Storage.AzureStorageQueuesWebJobsStartup, Microsoft.Azure.WebJobs.Extensions.Storage.Queues, Version=5.3.", queues.GetProperty("typeName").GetString(), StringComparison.Ordinal);
        var hint = queues.GetProperty("hintPath").GetString()!;
        Assert.Equal("./.azurefunctions/Microsoft.Azure.WebJobs.Extensions.Storage.Queues.dll", hint);
        var app = Path.Combine(RepositoryPaths.Root, "src", "FunctionsRelay.Functions", "bin", "Debug", "net10.0");
        Assert.True(File.Exists(Path.Combine(app, hint)), $"{hint} is not in the Functions app's build output {app}");
    }

    [Fact]
    public void The_functions_app_creates_no_storage_at_start_as_the_deployment_does()
    {
        // Program.cs wires AddRelay() alone: Flex Consumption gives an app 30 s to start, and Bicep creates queues and tables.
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build();
        var services = new ServiceCollection().AddRelay(configuration);

        // What runs at start is the key ring that encrypts tokens being read: by Data Protection (which only logs a failure)
        // and by the relay's check that stops a host whose settings cannot use it. Table reads, nothing created.
        Assert.Equal(
            ["FunctionsRelay.Infrastructure.KeyRingCheck", "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService"],
            services.Where(d => d.ServiceType == typeof(Microsoft.Extensions.Hosting.IHostedService)).Select(d => d.ImplementationType?.FullName).Order());
    }

    [Fact]
    public void The_generated_function_metadata_binds_the_routes_queue_and_timer_the_infra_configures()
    {
        var metadata = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "functions.metadata"))).RootElement;
        var functions = metadata.EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!, f => f.GetProperty("bindings")[0]);

        Assert.Equal(["Beacons", "BeaconsPreflight", "DeleteExpired", "HubSpotWebhooks", "KeepPoisonedBeacons", "KeepPoisonedScheduled", "MParticleSource", "OAuthCallback", "OAuthInstall", "OEmbed", "OperatorHealth", "OperatorView", "ProcessBeacons", "ProcessScheduled", "RefreshTokens", "SweepScheduledChecks"], functions.Keys.Order());
        Assert.Equal("%Relay:BeaconQueue%-poison", functions["KeepPoisonedBeacons"].GetProperty("queueName").GetString());
        Assert.Equal("%Relay:ScheduleQueue%-poison", functions["KeepPoisonedScheduled"].GetProperty("queueName").GetString());
        Assert.Equal("%Relay:ScheduleQueue%", functions["ProcessScheduled"].GetProperty("queueName").GetString());
        Assert.Equal("oembed", functions["OEmbed"].GetProperty("route").GetString());
        Assert.Equal("beacons", functions["Beacons"].GetProperty("route").GetString());
        Assert.Equal("anonymous", functions["Beacons"].GetProperty("authLevel").GetString(), ignoreCase: true);
        // mParticle's Webhook output shows the portal's secret source key, which the relay checks itself.
        Assert.Equal(("sources/mparticle", "anonymous"), (functions["MParticleSource"].GetProperty("route").GetString(), functions["MParticleSource"].GetProperty("authLevel").GetString()!.ToLowerInvariant()));
        // HubSpot signs its webhooks with the app's client secret, which the relay checks itself.
        Assert.Equal(("hubspot/webhooks", "anonymous"), (functions["HubSpotWebhooks"].GetProperty("route").GetString(), functions["HubSpotWebhooks"].GetProperty("authLevel").GetString()!.ToLowerInvariant()));
        // The operator view shows every portal's state: the host lets through only a request with its master key.
        Assert.Equal(
            [("OperatorHealth", "operator/api/health"), ("OperatorView", "operator")],
            functions.Where(f => f.Value.TryGetProperty("authLevel", out var level) && !string.Equals(level.GetString(), "anonymous", StringComparison.OrdinalIgnoreCase))
                .Select(f => (f.Key, f.Value.GetProperty("route").GetString()!)).Order());
        Assert.All(["OperatorView", "OperatorHealth"], name => Assert.Equal("admin", functions[name].GetProperty("authLevel").GetString(), ignoreCase: true));
        Assert.Equal("%Relay:BeaconQueue%", functions["ProcessBeacons"].GetProperty("queueName").GetString());
        Assert.Equal("AzureWebJobsStorage", functions["ProcessBeacons"].GetProperty("connection").GetString());
        Assert.Equal("%TokenRefreshSchedule%", functions["RefreshTokens"].GetProperty("schedule").GetString());
        Assert.Equal("%RetentionSchedule%", functions["DeleteExpired"].GetProperty("schedule").GetString());
        Assert.Equal("%ScheduleSweepSchedule%", functions["SweepScheduledChecks"].GetProperty("schedule").GetString());
    }
}
