namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// A test class whose every test gets a stand-in HubSpot of its own: started before the test, stopped after it, which
/// fails the test when the relay sent anything HubSpot would have refused.
/// </summary>
public abstract class WithFakeHubSpot : IAsyncLifetime
{
    protected FakeHubSpot HubSpot { get; private set; } = null!;

    public async Task InitializeAsync() => HubSpot = await FakeHubSpot.StartAsync();

    public virtual async Task DisposeAsync() => await HubSpot.DisposeAsync();
}
