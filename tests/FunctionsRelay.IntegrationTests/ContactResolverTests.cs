using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.IntegrationTests;

/// <summary>Looking a viewer's email up in HubSpot, on the stand-in HubSpot's contacts API.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class ContactResolverTests(Azurite azurite) : WithFakeHubSpot
{
    [Fact]
    public async Task A_slow_look_up_of_an_email_in_one_portal_does_not_hold_up_the_same_email_in_another()
    {
        var settings = IsolatedRelay.Settings(azurite, Path.GetTempFileName());
        foreach (var (key, value) in HubSpot.RelaySettings)
            settings[key] = value;
        await using var relay = await IsolatedRelay.StartServicesAsync(settings);
        var store = relay.GetRequiredService<PortalTokenStore>();
        await HubSpot.ConnectPortalAsync(store, 3101, TimeSpan.FromHours(1));
        await HubSpot.ConnectPortalAsync(store, 3102, TimeSpan.FromHours(1));
        var first = HubSpot.AddContactWithEmail(3101, "shared@example.com");
        var second = HubSpot.AddContactWithEmail(3102, "shared@example.com");
        // The first look-up HubSpot serves takes three seconds.
        var slowed = 0;
        HubSpot.Interceptor = async (call, answered) =>
        {
            if (!answered && call.EndsWith("/contacts/batch/read", StringComparison.Ordinal) && Interlocked.Exchange(ref slowed, 1) == 0)
                await Task.Delay(TimeSpan.FromSeconds(3));
            return false;
        };
        var contacts = relay.GetRequiredService<ContactResolver>();

        var slow = contacts.ResolveEmailAsync(3101, "shared@example.com", CancellationToken.None);
        await Task.Delay(200);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var other = await contacts.ResolveEmailAsync(3102, "shared@example.com", CancellationToken.None);
        var waited = started.Elapsed;

        Assert.Equal(second, other.ContactId);
        Assert.False(slow.IsCompleted, "the slow look-up ended first: the test shows nothing");
        Assert.True(waited < TimeSpan.FromSeconds(2), $"portal 3102's look-up waited {waited.TotalSeconds:F1} s for portal 3101's");
        Assert.Equal(first, (await slow).ContactId);
    }
}
