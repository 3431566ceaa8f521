using Azure.Storage.Queues.Models;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.Processing;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Functions;

/// <summary>The relay's triggers. Each only hands its input to the shared services; the local host wires the same ones.</summary>
public sealed class RelayFunctions(
    BeaconEndpoint beacons,
    OAuthEndpoints oauth,
    OEmbedEndpoint oembed,
    OperatorViewEndpoint operatorView,
    HubSpotWebhookEndpoint webhooks,
    SessionProcessor processor,
    PoisonHandler poison,
    ScheduleSweeper sweeper,
    TokenService tokens,
    RetentionService retention,
    MissingStorage missing,
    ILogger<RelayFunctions> logger)
{
    /// <summary>Players are public clients: anonymous, guarded by validation and CORS.</summary>
    [Function("Beacons")]
    public Task<IResult> PostBeacons(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = BeaconEndpoint.Route)] HttpRequest request,
        CancellationToken cancellationToken) => beacons.PostAsync(request, cancellationToken);

    /// <summary>mParticle's Webhook output and platforms' backends: anonymous to the host, guarded by the portal's secret source key.</summary>
    [Function("MParticleSource")]
    public Task<IResult> PostMParticle(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = BeaconEndpoint.MParticleRoute)] HttpRequest request,
        CancellationToken cancellationToken) => beacons.PostMParticleAsync(request, cancellationToken);

    [Function("BeaconsPreflight")]
    public Task<IResult> Preflight(
        [HttpTrigger(AuthorizationLevel.Anonymous, "options", Route = BeaconEndpoint.Route)] HttpRequest request, CancellationToken cancellationToken) =>
        beacons.PreflightAsync(request, cancellationToken);

    [Function("OAuthInstall")]
    public IResult Install(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = OAuthEndpoints.InstallRoute)] HttpRequest request) => oauth.Install(request);

    [Function("OAuthCallback")]
    public Task<IResult> Callback(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = OAuthEndpoints.CallbackRoute)] HttpRequest request,
        CancellationToken cancellationToken) => oauth.CallbackAsync(request, cancellationToken);

    [Function("OEmbed")]
    public IResult OEmbed(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = OEmbedEndpoint.Route)] HttpRequest request) => oembed.Get(request);

    /// <summary>HubSpot's webhooks (privacy deletions): anonymous to the host, guarded by HubSpot's v3 signature.</summary>
    [Function("HubSpotWebhooks")]
    public Task<IResult> HubSpotWebhooks(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = HubSpotWebhookEndpoint.Route)] HttpRequest request,
        CancellationToken cancellationToken) => webhooks.PostAsync(request, cancellationToken);

    /// <summary>
    /// The session processor; the host retries failures and poisons a message after maxDequeueCount (host.json).
    /// The host resolves <c>%name%</c> through its configuration, where the app setting <c>Relay__BeaconQueue</c> is the key
    /// <c>Relay:BeaconQueue</c> (<c>%Relay__BeaconQueue%</c> resolves to nothing and the function is not indexed).
    /// </summary>
    /// <summary>
    /// The operator view shows every portal's state: only with the host's master key (<c>AuthorizationLevel.Admin</c>,
    /// <c>?code=</c> or <c>x-functions-key</c>), which the host checks before the worker sees the request.
    /// </summary>
    [Function("OperatorView")]
    public IResult OperatorPage(
        [HttpTrigger(AuthorizationLevel.Admin, "get", Route = OperatorViewEndpoint.Route)] HttpRequest request) => operatorView.Page();

    [Function("OperatorHealth")]
    public Task<IResult> OperatorHealth(
        [HttpTrigger(AuthorizationLevel.Admin, "get", Route = OperatorViewEndpoint.HealthRoute)] HttpRequest request, CancellationToken cancellationToken) =>
        operatorView.HealthAsync(request, cancellationToken);

    [Function("ProcessBeacons")]
    public Task ProcessBeacons(
        [QueueTrigger("%Relay:BeaconQueue%", Connection = "AzureWebJobsStorage")] BinaryData message,
        CancellationToken cancellationToken) => processor.HandleAsync(message, cancellationToken);

    /// <summary>Close checks and delivery checks, each due when it becomes visible: the same processor, their own queue and trigger.</summary>
    [Function("ProcessScheduled")]
    public Task ProcessScheduled(
        [QueueTrigger("%Relay:ScheduleQueue%", Connection = "AzureWebJobsStorage")] BinaryData message,
        CancellationToken cancellationToken) => processor.HandleAsync(message, cancellationToken);

    /// <summary>Messages the host gave up on: logged with their portal and session, counted, kept for <c>relay poison --apply</c>.</summary>
    [Function("KeepPoisonedBeacons")]
    public Task KeepPoisonedBeacons(
        [QueueTrigger("%Relay:BeaconQueue%-poison", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken) => poison.HandleBeaconAsync(message.MessageId, message.Body, cancellationToken);

    [Function("KeepPoisonedScheduled")]
    public Task KeepPoisonedScheduled(
        [QueueTrigger("%Relay:ScheduleQueue%-poison", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken) => poison.HandleScheduledAsync(message.MessageId, message.Body, cancellationToken);

    /// <summary>
    /// Checks that waited in the schedule table and are due now, onto the scheduled queue: every 5 s by default. A timer
    /// whose table is missing says so once (<see cref="MissingStorage"/>), not as a failure every tick.
    /// </summary>
    [Function("SweepScheduledChecks")]
    public Task SweepScheduledChecks([TimerTrigger("%ScheduleSweepSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        missing.RunAsync(sweeper.SweepAsync, cancellationToken);

    [Function("RefreshTokens")]
    public Task RefreshTokens([TimerTrigger("%TokenRefreshSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        missing.RunAsync(async cancellation =>
        {
            var refreshed = await tokens.RefreshExpiringAsync(cancellation);
            if (refreshed > 0)
                logger.LogInformation("Refreshed {Count} HubSpot tokens ahead of expiry", refreshed);
        }, cancellationToken);

    /// <summary>Deletes closed sessions, dead letters and poisoned messages past <c>Relay__RetentionDays</c>: once a day by default.</summary>
    [Function("DeleteExpired")]
    public Task DeleteExpired([TimerTrigger("%RetentionSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        missing.RunAsync(retention.DeleteExpiredAsync, cancellationToken);
}
