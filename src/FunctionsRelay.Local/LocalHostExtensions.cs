using Microsoft.AspNetCore.Hosting.Server;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Telemetry;
using FunctionsRelay.Local.Demo;
using FunctionsRelay.Local.OperatorView;
using Microsoft.Azure.WebJobs;
using Microsoft.Azure.WebJobs.Host;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Local;

public static class LocalHostExtensions
{
    /// <summary>The triggers the Functions host would run: the queue listener and the token refresh timer.</summary>
    public static IServiceCollection AddLocalHost(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddStorageCreation();
        services.AddRelayTelemetry(configuration);
        services.AddQueueTriggers();
        services.AddHostedService<TokenRefreshWorker>();
        services.AddHostedService<RetentionWorker>();
        services.AddHostedService<ScheduleSweepWorker>();
        services.AddHostedService<StartupBanner>();

        // The demo page shows what was sent.
        services.AddSingleton<SentEventLog>();
        services.AddSingleton<IDeliveryObserver>(provider => provider.GetRequiredService<SentEventLog>());
        return services;
    }

    /// <summary>The Functions host's queue listener (WebJobs SDK, Storage Queues extension) running <see cref="QueueTriggers"/>.</summary>
    private static IServiceCollection AddQueueTriggers(this IServiceCollection services)
    {
        services.AddWebJobs(_ => { }).AddAzureStorageQueues();
        services.AddSingleton<Microsoft.Azure.WebJobs.Host.Timers.IWebJobsExceptionHandler, ListenerFailureHandler>();
        services.AddSingleton<ITypeLocator>(new TriggerTypes(typeof(QueueTriggers)));
        services.AddSingleton<QueueTriggers>();
        services.AddHostedService<JobHostRunner>();
        return services;
    }

    /// <summary>The relay's routes under /api, the demo page at /demo, the operator view at /operator.</summary>
    public static IEndpointRouteBuilder MapLocalHost(this IEndpointRouteBuilder app) => app.MapRelayEndpoints().MapDemo().MapOperatorView();

    /// <summary>The same routes and answers as the Functions app, under /api.</summary>
    public static IEndpointRouteBuilder MapRelayEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost(BeaconEndpoint.Route, (HttpRequest request, BeaconEndpoint endpoint, CancellationToken cancellationToken) =>
            endpoint.PostAsync(request, cancellationToken));
        api.MapPost(BeaconEndpoint.MParticleRoute, (HttpRequest request, BeaconEndpoint endpoint, CancellationToken cancellationToken) =>
            endpoint.PostMParticleAsync(request, cancellationToken));
        api.MapMethods(BeaconEndpoint.Route, [HttpMethods.Options], (HttpRequest request, BeaconEndpoint endpoint, CancellationToken cancellationToken) =>
            endpoint.PreflightAsync(request, cancellationToken));
        api.MapGet(OAuthEndpoints.InstallRoute, (HttpRequest request, OAuthEndpoints endpoints) => endpoints.Install(request));
        api.MapGet(OAuthEndpoints.CallbackRoute, (HttpRequest request, OAuthEndpoints endpoints, CancellationToken cancellationToken) =>
            endpoints.CallbackAsync(request, cancellationToken));
        api.MapGet(OEmbedEndpoint.Route, (HttpRequest request, OEmbedEndpoint endpoint) => endpoint.Get(request));
        api.MapPost(HubSpotWebhookEndpoint.Route, (HttpRequest request, HubSpotWebhookEndpoint endpoint, CancellationToken cancellationToken) =>
            endpoint.PostAsync(request, cancellationToken));
        api.MapGet("health", () => Results.Ok(new { status = "ok" }));
        return app;
    }
}

/// <summary>The classes whose functions the WebJobs host indexes: only these, not every loaded assembly.</summary>
internal sealed class TriggerTypes(params Type[] types) : ITypeLocator
{
    public IReadOnlyList<Type> GetTypes() => types;
}

/// <summary>
/// Starts and stops the WebJobs host with the app, as <c>IHostBuilder.ConfigureWebJobs</c> does; that method would also add
/// appsettings.json and the environment to the configuration a second time, above the settings of the app and its tests.
/// Stopping waits for the messages being handled.
/// </summary>
internal sealed class JobHostRunner(IJobHost jobHost) : IHostedService
{
    private readonly Lazy<Task> _stopping = new(jobHost.StopAsync);

    public Task StartAsync(CancellationToken cancellationToken) => jobHost.StartAsync(cancellationToken);

    /// <summary>
    /// Every caller waits for the one stop: the job host disposes itself once stopped, and a host can be stopped twice at
    /// once (a test's host by the test and by its factory).
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken) => _stopping.Value;
}

/// <summary>Says where to post beacons, and whether events go to HubSpot or to the dry-run file.</summary>
internal sealed class StartupBanner(IServer server, IOptions<HubSpotOptions> hubSpot, IHostApplicationLifetime lifetime, ILogger<StartupBanner> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            var address = server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://localhost:7071";
            logger.LogInformation("FunctionsRelay is running: post beacons to {BeaconUrl}; demo page at {DemoUrl}; operator view at {OperatorUrl}", $"{address}/api/beacons", $"{address}/demo", $"{address}/operator");
            if (hubSpot.Value.DryRun)
                logger.LogInformation("Dry run (no HubSpot__ClientId/HubSpot__ClientSecret): HubSpot events are logged and appended to {DryRunFile}", Path.GetFullPath(hubSpot.Value.DryRunFile));
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
