using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.IntegrationTests;

/// <summary>Refreshing a portal's token on Azurite against the stand-in HubSpot: one refresher at a time, the others take its token.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class TokenRefreshTests(Azurite azurite) : WithFakeHubSpot
{
    [Fact]
    public async Task Many_handlers_needing_an_expiring_token_at_once_refresh_it_once()
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        foreach (var (key, value) in HubSpot.RelaySettings)
            settings[key] = value;
        await using var relay = await IsolatedRelay.StartServicesAsync(settings);
        // The token expires within the minute a token must have left to be used.
        await HubSpot.ConnectPortalAsync(relay.GetRequiredService<PortalTokenStore>(), 4545, TimeSpan.FromSeconds(30));
        var tokens = relay.GetRequiredService<TokenService>();

        var handed = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => tokens.GetAccessTokenAsync(4545, CancellationToken.None)));

        Assert.Equal(1, HubSpot.Refreshes);
        Assert.Single(handed.Distinct());
        Assert.Equal((await relay.GetRequiredService<PortalTokenStore>().GetAsync(4545, CancellationToken.None))!.AccessToken, handed[0]);
    }
}
