using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Local;

/// <summary>The token refresh timer on the local host: refreshes every token expiring within the window, every interval.</summary>
internal sealed class TokenRefreshWorker(TokenService tokens, IOptions<HubSpotOptions> options, TimeProvider time, ILogger<TokenRefreshWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.DryRun)
            return;
        using var timer = new PeriodicTimer(options.Value.RefreshInterval, time);
        do
        {
            try
            {
                var refreshed = await tokens.RefreshExpiringAsync(stoppingToken);
                if (refreshed > 0)
                    logger.LogInformation("Refreshed {Count} HubSpot tokens ahead of expiry", refreshed);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "The token refresh failed; it runs again in {Interval}", options.Value.RefreshInterval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
