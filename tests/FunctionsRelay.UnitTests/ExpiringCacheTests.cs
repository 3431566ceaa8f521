using FunctionsRelay.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsRelay.UnitTests;

/// <summary>
/// The caches keyed by what requests bring (portal ids, utks, media) stay bounded: a flood of made-up keys cannot grow
/// them until the instance runs out of memory.
/// </summary>
public sealed class ExpiringCacheTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void A_flood_of_new_keys_never_holds_more_than_the_capacity()
    {
        var cache = new ExpiringCache<long, string>(1000, _time);

        var most = 0;
        for (long portal = 1; portal <= 50_000; portal++)
        {
            cache.Set(portal, "unknown", TimeSpan.FromMinutes(1));
            most = Math.Max(most, cache.Count);
        }

        Assert.Equal(1000, most);
        Assert.True(cache.TryGet(50_000, out var newest) && newest == "unknown", "the newest entry is kept");
    }

    [Fact]
    public void A_flood_of_short_lived_keys_pushes_out_its_own_kind_not_the_long_lived_entries_of_others()
    {
        var cache = new ExpiringCache<(long Portal, string Utk), bool>(1000, _time);
        // Contacts of portal 1, kept a day; then a stranger's made-up utks of portal 2, each kept half an hour as no contact.
        for (var i = 0; i < 100; i++)
            cache.Set((1, $"contact-{i}"), true, TimeSpan.FromDays(1));
        for (var i = 0; i < 20_000; i++)
            cache.Set((2, $"made-up-{i}"), false, TimeSpan.FromMinutes(30));

        Assert.All(Enumerable.Range(0, 100), i => Assert.True(cache.TryGet((1, $"contact-{i}"), out _), $"contact-{i} was pushed out"));
        Assert.InRange(cache.Count, 750, 1000);
    }

    [Fact]
    public void Entries_expire_and_at_capacity_the_expired_go_first()
    {
        var cache = new ExpiringCache<string, int>(4, _time);
        cache.Set("short-1", 1, TimeSpan.FromSeconds(10));
        cache.Set("short-2", 2, TimeSpan.FromSeconds(10));
        cache.Set("long", 3, TimeSpan.FromHours(1));

        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.False(cache.TryGet("short-1", out _));
        cache.Set("fourth", 4, TimeSpan.FromHours(1));
        cache.Set("fifth", 5, TimeSpan.FromHours(1));

        // The fifth found the cache full: the two expired went, the live ones stayed.
        Assert.Equal(3, cache.Count);
        Assert.True(cache.TryGet("long", out var kept) && kept == 3);
        Assert.True(cache.TryGet("fifth", out var added) && added == 5);
    }

    [Fact]
    public void Setting_a_key_already_held_at_capacity_replaces_it_without_trimming()
    {
        var cache = new ExpiringCache<int, int>(2, _time);
        cache.Set(1, 1, TimeSpan.FromHours(1));
        cache.Set(2, 2, TimeSpan.FromHours(1));

        cache.Set(2, 20, TimeSpan.FromHours(1));

        Assert.Equal(2, cache.Count);
        Assert.True(cache.TryGet(1, out _) && cache.TryGet(2, out var replaced) && replaced == 20);
    }
}
