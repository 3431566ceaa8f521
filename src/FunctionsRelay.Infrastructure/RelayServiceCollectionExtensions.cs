using System.Net;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sources;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Delivery;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Infrastructure.Ingest;
using FunctionsRelay.Infrastructure.Privacy;
using FunctionsRelay.Infrastructure.Processing;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using FunctionsRelay.Infrastructure.Protection;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;

namespace FunctionsRelay.Infrastructure;

public static class RelayServiceCollectionExtensions
{
    /// <summary>Everything the relay does, for either host: options, storage, ingest, the session processor, HubSpot and tokens.</summary>
    public static IServiceCollection AddRelay(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<BeaconLimits>().Bind(configuration.GetSection(BeaconLimits.SectionName)).ValidateOnStart();
        services.AddOptions<SessionOptions>().Bind(configuration.GetSection(SessionOptions.SectionName)).ValidateOnStart();
        services.AddOptions<RelayOptions>().Bind(configuration.GetSection(RelayOptions.SectionName)).ValidateOnStart()
            .PostConfigure(options =>
            {
                options.AllowedOrigins = SplitList(options.AllowedOrigins, configuration, nameof(RelayOptions.AllowedOrigins));
                options.OEmbedHosts = SplitList(options.OEmbedHosts, configuration, nameof(RelayOptions.OEmbedHosts));
            });
        services.AddOptions<HubSpotOptions>().Bind(configuration.GetSection(HubSpotOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BeaconLimits>, BeaconLimitsValidation>();
        services.AddSingleton<IValidateOptions<SessionOptions>, SessionOptionsValidation>();
        services.AddSingleton<IValidateOptions<RelayOptions>, RelayOptionsValidation>();
        services.AddSingleton<IValidateOptions<HubSpotOptions>, HubSpotOptionsValidation>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<RelayMetrics>();

        services.AddSingleton(provider => new StorageClients(configuration, provider.GetRequiredService<IOptions<RelayOptions>>()));
        services.AddKeyRing(configuration);
        services.AddSingleton<RelayStorage>();
        services.AddSingleton<Pseudonyms>();
        services.AddSingleton<MissingStorage>();
        services.AddSingleton<ScheduledCheckTable>();
        services.AddSingleton<BeaconQueue>();
        services.AddSingleton<SessionRepository>();
        services.AddSingleton<DeadLetterStore>();
        services.AddSingleton<PortalTokenStore>();
        services.AddSingleton<MediaObjectStore>();
        services.AddSingleton<QuotaStore>();
        services.AddSingleton<PoisonedMessageStore>();
        services.AddSingleton<RetentionService>();
        services.AddSingleton<PortalStatusReport>();
        services.AddSingleton<DeliveryFigures>();
        services.AddSingleton<PortalHealthReport>();
        services.AddSingleton<ForgottenViewers>();
        services.AddPrivacy();

        services.AddSingleton(provider => new BeaconParser(provider.GetRequiredService<IOptions<BeaconLimits>>().Value));
        services.AddSingleton<PortalAccessCheck>();
        services.AddSingleton<IngestRateLimits>();
        services.AddSingleton<BeaconIngestService>();
        services.AddDelivery();
        services.AddSingleton<SessionProcessor>();
        services.AddSingleton<PoisonHandler>();
        services.AddSingleton<ScheduleSweeper>();
        services.AddSingleton<DeadLetterReplay>();
        services.AddSingleton<SessionRederive>();
        services.AddSingleton<BeaconEndpoint>();
        services.AddSingleton<OAuthEndpoints>();
        services.AddSingleton<OEmbedLinks>();
        services.AddSingleton<OEmbedEndpoint>();
        services.AddSingleton<OperatorViewEndpoint>();
        services.AddSingleton<HubSpotWebhookEndpoint>();

        services.AddSingleton(provider => new HubSpotPacer(
            provider.GetRequiredService<IOptions<HubSpotOptions>>(),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<IOptions<HubSpotOptions>>().Value.Budget == BudgetMode.Shared ? provider.GetRequiredService<QuotaStore>() : null,
            provider.GetRequiredService<ILogger<HubSpotPacer>>()));
        services.AddSingleton<TokenService>();
        services.AddHttpClient<HubSpotOAuthClient>(ConfigureHubSpotClient).AddResilienceHandler("hubspot-oauth", AddTransientRetries);
        // No request logging of its own: the contact look-up's path holds the viewer's utk.
        services.AddHttpClient<HubSpotClient>(ConfigureHubSpotClient).RemoveAllLoggers().AddResilienceHandler("hubspot-api", AddTransientRetries);
        services.AddSingleton<MediaObjectService>();
        services.AddSingleton<PortalSettings>();
        services.AddSingleton<ContactResolver>();
        services.AddSingleton<MediaBridgeCheck>();
        services.AddHttpClient<MediaBridgeAppSettings>(ConfigureHubSpotClient).AddResilienceHandler("hubspot-app-settings", AddTransientRetries);
        services.AddSingleton<HubSpotMediaEventSender>();
        services.AddSingleton<DryRunMediaEventSender>();
        services.AddSingleton<IMediaEventSender>(provider => provider.GetRequiredService<IOptions<HubSpotOptions>>().Value.DryRun
            ? provider.GetRequiredService<DryRunMediaEventSender>()
            : provider.GetRequiredService<HubSpotMediaEventSender>());
        return services;
    }

    /// <summary>A session's outbox to HubSpot: the lease, the send chain (viewer gate, media object, sender) and what each outcome records.</summary>
    private static IServiceCollection AddDelivery(this IServiceCollection services) => services
        .AddSingleton<ViewerGate>()
        .AddSingleton<EventSendChain>()
        .AddSingleton<DeliveryOutcomes>()
        .AddSingleton<OutboxDeliverer>();

    /// <summary>What keeps viewers' personal data small and erasable (docs/privacy.md).</summary>
    private static IServiceCollection AddPrivacy(this IServiceCollection services) => services
        .AddSingleton<ViewerEmails>()
        .AddSingleton<ViewerKeys>()
        .AddSingleton<ViewerForgetting>()
        .AddSingleton<ViewerPrivacy>();

    /// <summary>
    /// Tokens are encrypted at rest with Data Protection keys of their own, kept in a table every instance reads; with
    /// <c>Relay__KeyRingKeyUri</c> (the deployment sets it) each key is itself encrypted under a Key Vault key before it
    /// is stored there. Without it (the local host, tests) the keys are stored as they are.
    /// </summary>
    private static IServiceCollection AddKeyRing(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddDataProtection().SetApplicationName("FunctionsRelay");
        services.TryAddSingleton(_ => new KeyVaultAccess(StorageClients.CredentialOf(configuration.GetSection(StorageClients.ConnectionName))));
        var keyUri = configuration[$"{RelayOptions.SectionName}:{nameof(RelayOptions.KeyRingKeyUri)}"];
        // A malformed key URI fails the options' validation (Relay__KeyRingKeyUri), at start and in the relay command.
        if (!string.IsNullOrWhiteSpace(keyUri) && KeyRingKey.TryParse(keyUri, out var key))
        {
            services.AddHttpClient(nameof(KeyVaultKeyWrap)).AddResilienceHandler("key-vault", AddRepeatableRetries);
            services.AddSingleton(provider => new KeyVaultKeyWrap(
                provider.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(KeyVaultKeyWrap)), provider.GetRequiredService<KeyVaultAccess>(), key));
        }
        else
        {
            // Data Protection warns "No XML encryptor configured" for each key it makes: unwrapped is this setting's
            // meaning (KeyRingCheck says so once), not a fault to warn of at every start on a fresh Azurite.
            services.Configure<LoggerFilterOptions>(options => options.AddFilter(typeof(XmlKeyManager).FullName, LogLevel.Error));
        }

        services.AddHostedService<KeyRingCheck>();
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(provider => new ConfigureOptions<KeyManagementOptions>(options =>
        {
            options.XmlRepository = new TableXmlRepository(
                provider.GetRequiredService<StorageClients>().Tables.GetTableClient(provider.GetRequiredService<IOptions<RelayOptions>>().Value.KeysTable),
                wrapped: provider.GetService<KeyVaultKeyWrap>() is not null);
            if (provider.GetService<KeyVaultKeyWrap>() is { } wrap)
                options.XmlEncryptor = new KeyVaultXmlEncryptor(wrap);
        }));
        return services;
    }

    /// <summary>
    /// Makes the queues and tables that are missing when the host starts: before its triggers run (the local host and
    /// tests), or <paramref name="inBackground"/> (the Functions app, whose worker must be ready within seconds; on Azure
    /// the deployment has made them, and the check costs two listings).
    /// </summary>
    public static IServiceCollection AddStorageCreation(this IServiceCollection services, bool inBackground = false) =>
        services.AddHostedService(provider => new StorageInitializer(
            provider.GetRequiredService<RelayStorage>(), inBackground, provider.GetRequiredService<ILogger<StorageInitializer>>()));

    private static void ConfigureHubSpotClient(IServiceProvider provider, HttpClient client)
    {
        var options = provider.GetRequiredService<IOptions<HubSpotOptions>>().Value;
        client.BaseAddress = options.BaseUrl;
        client.Timeout = Timeout.InfiniteTimeSpan;
    }

    /// <summary>
    /// Retries 5xx answers, timeouts and connection failures with backoff, of requests that may be repeated (GET, and the
    /// Key Vault's wrap and unwrap, which change nothing). Never a POST, PUT, PATCH or DELETE to HubSpot: HubSpot may have
    /// kept a request it answered 500 for, or answered too late, so a retry here would send an event or make a media
    /// object twice, unseen; the outbox's own retry (after <see cref="HubSpotOptions.OutageRetryDelay"/>) is the one retry,
    /// and the media object's claim looks for the object again before making it. Not 429: the sender honours Retry-After
    /// itself and hands long waits back to the queue instead of holding the worker.
    /// </summary>
    private static void AddTransientRetries(ResiliencePipelineBuilder<HttpResponseMessage> pipeline, ResilienceHandlerContext context) =>
        AddTransientRetries(pipeline, context, retryUnsafeMethods: false);

    private static void AddRepeatableRetries(ResiliencePipelineBuilder<HttpResponseMessage> pipeline, ResilienceHandlerContext context) =>
        AddTransientRetries(pipeline, context, retryUnsafeMethods: true);

    private static void AddTransientRetries(ResiliencePipelineBuilder<HttpResponseMessage> pipeline, ResilienceHandlerContext context, bool retryUnsafeMethods)
    {
        var timeout = context.ServiceProvider.GetRequiredService<IOptions<HubSpotOptions>>().Value.RequestTimeout;
        var retry = new HttpRetryStrategyOptions
        {
            MaxRetryAttempts = 3,
            Delay = TimeSpan.FromMilliseconds(200),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldRetryAfterHeader = false,
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is HttpRequestException or Polly.Timeout.TimeoutRejectedException
                || args.Outcome.Result is { StatusCode: >= HttpStatusCode.InternalServerError }),
        };
        if (!retryUnsafeMethods)
            retry.DisableForUnsafeHttpMethods();
        pipeline.AddRetry(retry).AddTimeout(timeout);
    }

    /// <summary>A list setting may also come as one comma-separated value (<c>Relay__AllowedOrigins=https://a,https://b</c>).</summary>
    private static string[] SplitList(string[] bound, IConfiguration configuration, string name)
    {
        var single = configuration[$"{RelayOptions.SectionName}:{name}"];
        var all = string.IsNullOrWhiteSpace(single) ? bound : [.. bound, single];
        return all.SelectMany(value => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToArray();
    }
}

/// <summary>
/// Makes the queues and tables that are missing when a host starts. <paramref name="inBackground"/>: without holding the
/// start up (the Functions app: its worker must answer the host within seconds, and on Azure the deployment has made them
/// already); otherwise before the host's triggers start (the local host and tests).
/// </summary>
internal sealed class StorageInitializer(RelayStorage storage, bool inBackground, ILogger<StorageInitializer> logger) : Microsoft.Extensions.Hosting.IHostedService
{
    /// <summary>Long enough for storage's retries; a check that outlasts it says why and leaves the rest to the deployment.</summary>
    private static readonly TimeSpan BackgroundLimit = TimeSpan.FromMinutes(2);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!inBackground)
            return CreateAsync(throwOnFailure: true, cancellationToken);
        _ = Task.Run(async () =>
        {
            using var limit = new CancellationTokenSource(BackgroundLimit);
            await CreateAsync(throwOnFailure: false, limit.Token);
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task CreateAsync(bool throwOnFailure, CancellationToken cancellationToken)
    {
        try
        {
            var made = await storage.CreateMissingAsync(cancellationToken);
            logger.LogInformation(
                "Storage ready: {Storage}{Made}", storage.Describe(), made.Count == 0 ? "" : $" (made {string.Join(", ", made)})");
        }
        catch (Exception ex) when (!throwOnFailure)
        {
            // An identity that may not list or make them (the deployment made them), or storage out of reach: said once.
            logger.LogWarning(
                "The relay could not check or make its queues and tables ({Reason}); it goes on with what storage has: {Storage}",
                (ex as Azure.RequestFailedException)?.ErrorCode ?? ex.GetType().Name,
                storage.Describe());
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Reads the key ring when a host starts: one that this relay's settings cannot use stops it there (<see cref="KeyRingMisconfiguredException"/>).</summary>
internal sealed class KeyRingCheck(IKeyManager keys, IServiceProvider services, IOptions<RelayOptions> options, ILogger<KeyRingCheck> logger)
    : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = keys.GetAllKeys();
        if (services.GetService<KeyVaultKeyWrap>() is null)
        {
            logger.LogInformation(
                "The token key ring (table {KeysTable}) is stored unwrapped: no Relay__KeyRingKeyUri (the deployment sets one; docs/security.md)",
                options.Value.KeysTable);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
