using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsRelay.UnitTests;

/// <summary>The pace the relay keeps per portal: look-ups never take the half of the window that events keep.</summary>
public sealed class PacerTests
{
    [Fact]
    public void Look_ups_take_at_most_half_the_window_and_events_always_have_the_rest()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var pacer = new HubSpotPacer(Options.Create(new HubSpotOptions { RequestsPerTenSeconds = 90 }), time);

        var lookUps = Enumerable.Range(0, 100).Count(_ => pacer.Reserve(42, CallPriority.LookUp) == TimeSpan.Zero);
        var events = Enumerable.Range(0, 100).Count(_ => pacer.Reserve(42) == TimeSpan.Zero);
        var lookUpWait = pacer.Reserve(42, CallPriority.LookUp);
        time.Advance(TimeSpan.FromSeconds(10));
        var lookUpsLater = Enumerable.Range(0, 100).Count(_ => pacer.Reserve(42, CallPriority.LookUp) == TimeSpan.Zero);

        Assert.Equal(45, lookUps);
        Assert.Equal(45, events);
        Assert.Equal(TimeSpan.FromSeconds(10), lookUpWait);
        Assert.Equal(45, lookUpsLater);
        // Another portal's window is its own.
        Assert.Equal(TimeSpan.Zero, pacer.Reserve(43, CallPriority.LookUp));
    }

    [Fact]
    public async Task Calls_refused_together_are_told_to_come_back_apart_never_before_a_slot_frees()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var pacer = new HubSpotPacer(Options.Create(new HubSpotOptions { RequestsPerTenSeconds = 10 }), time);
        for (var i = 0; i < 10; i++)
            Assert.Equal(TimeSpan.Zero, await pacer.ReserveAsync(7, CallPriority.Played, CancellationToken.None));

        var waits = new List<TimeSpan>();
        for (var i = 0; i < 50; i++)
            waits.Add(await pacer.ReserveAsync(7, CallPriority.Played, CancellationToken.None));

        Assert.All(waits, wait => Assert.InRange(wait, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(12)));
        Assert.True(waits.Distinct().Count() > 25, "refused calls all come back at the same moment");
    }
}
