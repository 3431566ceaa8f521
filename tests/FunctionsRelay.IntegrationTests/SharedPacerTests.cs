using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsRelay.IntegrationTests;

/// <summary>Pacers of several instances sharing one portal's budget in table quotas, on Azurite, in simulated time.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class SharedPacerTests(Azurite azurite)
{
    private const long Portal = 6464;

    private QuotaStore Quotas(TimeProvider time, string table)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new("AzureWebJobsStorage", azurite.ConnectionString)]).Build();
        var options = Options.Create(new RelayOptions { QuotasTable = table });
        var store = new QuotaStore(new StorageClients(configuration, options), options, time);
        store.CreateIfNotExistsAsync(CancellationToken.None).GetAwaiter().GetResult();
        return store;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task Look_ups_take_at_most_half_the_pace_over_every_instance_and_quartiles_keep_the_rest(int instances)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var table = "quotas" + Guid.NewGuid().ToString("N")[..8];
        var options = Options.Create(new HubSpotOptions { RequestsPerTenSeconds = 90 });
        var pacers = Enumerable.Range(0, instances).Select(_ => new HubSpotPacer(options, time, Quotas(time, table))).ToList();
        var lookUps = new List<DateTimeOffset>();
        var quartiles = new List<DateTimeOffset>();

        // Every instance asks for as many look-ups (random utks) and quartiles as it is given, every 100 ms for 40 s.
        for (var step = 0; step < 400; step++)
        {
            foreach (var pacer in pacers)
            {
                while (await pacer.ReserveAsync(Portal, CallPriority.LookUp, CancellationToken.None) == TimeSpan.Zero)
                    lookUps.Add(time.GetUtcNow());
                while (await pacer.ReserveAsync(Portal, CallPriority.Quartile, CancellationToken.None) == TimeSpan.Zero)
                    quartiles.Add(time.GetUtcNow());
            }

            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        var mostLookUps = MostInAnyTenSeconds(lookUps);
        Assert.True(mostLookUps <= 45, $"{instances} instances made {mostLookUps} look-ups in a rolling 10 s: more than half the pace (45)");
        // The rest of the pace is the quartiles' (after the first 10 s, each 10 s holds about 90 calls in all).
        var quartilesPerTen = quartiles.Count(at => at >= lookUps.Min().AddSeconds(10)) / 3.0;
        Assert.True(quartilesPerTen >= 35, $"quartiles got {quartilesPerTen:F1} per 10 s beside the look-ups");
        Assert.True(MostInAnyTenSeconds([.. lookUps, .. quartiles]) <= 99, "together past 1.1 times the pace");
    }

    [Theory]
    [InlineData(BudgetMode.Shared)]
    [InlineData(BudgetMode.Instance)]
    public async Task Four_instances_stay_within_the_accounts_limit_together_only_when_they_share_the_budget(BudgetMode mode)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var table = "quotas" + Guid.NewGuid().ToString("N")[..8];
        var options = Options.Create(new HubSpotOptions { RequestsPerTenSeconds = 90 });
        var pacers = Enumerable.Range(0, 4).Select(_ => new HubSpotPacer(options, time, mode == BudgetMode.Shared ? Quotas(time, table) : null)).ToList();
        var calls = new List<DateTimeOffset>();

        // Each instance sends as many played events as it is let, every 100 ms for 30 s.
        for (var step = 0; step < 300; step++)
        {
            foreach (var pacer in pacers)
            {
                while (await pacer.ReserveAsync(Portal, CallPriority.Played, CancellationToken.None) == TimeSpan.Zero)
                    calls.Add(time.GetUtcNow());
            }

            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        // HubSpot's limit is 110 per 10 s for every caller of the account; the shared bucket keeps the four under 1.1 times the pace.
        var most = MostInAnyTenSeconds(calls);
        if (mode == BudgetMode.Shared)
            Assert.True(most <= 99, $"four instances sharing the budget sent {most} calls in a rolling 10 s");
        else
            Assert.True(most > 110, $"four instances each pacing alone sent at most {most} calls in a rolling 10 s: the control shows nothing");
    }

    [Fact]
    public async Task While_played_events_drain_the_budget_a_call_ranked_below_them_gets_none_of_their_tokens()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var table = "quotas" + Guid.NewGuid().ToString("N")[..8];
        var options = Options.Create(new HubSpotOptions { RequestsPerTenSeconds = 90 });
        var pacers = Enumerable.Range(0, 2).Select(_ => new HubSpotPacer(options, time, Quotas(time, table))).ToList();
        var (played, surplus) = (0, 0);

        // Each instance has a played event every 100 ms (20 a second in all, past the pace of 9), and a stranger's
        // sessions (surplus) ask as often as they are let.
        for (var step = 0; step < 200; step++)
        {
            foreach (var pacer in pacers)
            {
                if (await pacer.ReserveAsync(Portal, CallPriority.Played, CancellationToken.None) == TimeSpan.Zero)
                    played++;
                while (await pacer.ReserveAsync(Portal, CallPriority.Surplus, CancellationToken.None) == TimeSpan.Zero)
                    surplus++;
            }

            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.True(surplus <= 2, $"calls ranked below played events took {surplus} tokens while played events waited");
        Assert.True(played >= 170, $"played events got {played} calls in 20 s at a pace of 9 a second");
    }

    [Fact]
    public async Task Plain_look_ups_leave_the_last_look_up_token_to_a_played_events_look_up()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var table = "quotas" + Guid.NewGuid().ToString("N")[..8];
        var options = Options.Create(new HubSpotOptions { RequestsPerTenSeconds = 90 });
        var pacers = Enumerable.Range(0, 2).Select(_ => new HubSpotPacer(options, time, Quotas(time, table))).ToList();
        var (plain, played, playedRefused) = (0, 0, 0);

        // Held viewers' checks and listings (plain look-ups) ask as often as they are let; each instance has a new viewer's
        // played event to look up every second (2 a second in all, half the look-ups' 4.1 a second).
        for (var step = 0; step < 200; step++)
        {
            foreach (var pacer in pacers)
            {
                while (await pacer.ReserveAsync(Portal, CallPriority.LookUp, CancellationToken.None) == TimeSpan.Zero)
                    plain++;
                if (step % 10 == pacers.IndexOf(pacer) * 5)
                {
                    if (await pacer.ReserveAsync(Portal, CallPriority.PlayedLookUp, CancellationToken.None) == TimeSpan.Zero)
                        played++;
                    else
                        playedRefused++;
                }
            }

            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.True(playedRefused <= 1, $"{playedRefused} of {played + playedRefused} played events' look-ups found the plain look-ups had taken every token");
        // The rest of the look-ups' half of the pace is theirs: 4.1 a second less the played events' 2.
        Assert.True(plain >= 35, $"plain look-ups got {plain} in 20 s beside the played events' look-ups");
    }

    [Fact]
    public async Task With_the_shared_budget_out_of_reach_no_call_goes_unpaced()
    {
        var closed = AzuriteProcess.ConnectionStringFor(Ports.Free(), Ports.Free());
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new("AzureWebJobsStorage", closed)]).Build();
        var relay = Options.Create(new RelayOptions { StorageRetries = 0 });
        var pacer = new HubSpotPacer(Options.Create(new HubSpotOptions { RequestsPerTenSeconds = 90 }), TimeProvider.System, new QuotaStore(new StorageClients(configuration, relay), relay, TimeProvider.System));

        var wait = await pacer.ReserveAsync(Portal, CallPriority.Played, CancellationToken.None);

        Assert.True(wait >= TimeSpan.FromSeconds(2), $"a call went ahead (wait {wait}) though no instance could know what the others send");
    }

    private static int MostInAnyTenSeconds(List<DateTimeOffset> calls)
    {
        var sorted = calls.Order().ToList();
        var most = 0;
        for (int start = 0, end = 0; end < sorted.Count; end++)
        {
            while (sorted[end] - sorted[start] >= TimeSpan.FromSeconds(10))
                start++;
            most = Math.Max(most, end - start + 1);
        }

        return most;
    }
}
