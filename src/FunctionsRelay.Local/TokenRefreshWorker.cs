using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Local;

/// <summary>The token refresh timer on the local host: refreshes every token expiring within the window, every interval.</summary>
internal sealed class TokenRefreshWorker(TokenService tokens, IOptions<HubSpotOptions> options, TimeProvider time, ILogger<TokenRefreshWorker> logger, MissingStorage missing)
    : PeriodicWorker(options.Value.RefreshInterval, atStart: true, time, logger, missing)
{
    private readonly ILogger _logger = logger;

    protected override string What => "The token refresh";

    protected override bool Enabled => !options.Value.DryRun;

    protected override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var refreshed = await tokens.RefreshExpiringAsync(cancellationToken);
        if (refreshed > 0)
            _logger.LogInformation("Refreshed {Count} HubSpot tokens ahead of expiry", refreshed);
    }
}
