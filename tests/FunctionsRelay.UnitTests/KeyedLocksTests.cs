using FunctionsRelay.Infrastructure;

namespace FunctionsRelay.UnitTests;

public sealed class KeyedLocksTests
{
    [Fact]
    public async Task Callers_of_one_key_take_turns_and_of_another_key_never_wait_and_no_lock_outlives_its_use()
    {
        var locks = new KeyedLocks<(long Portal, string Email)>();

        var first = await locks.LockAsync((1, "same"), CancellationToken.None);
        var sameKey = locks.LockAsync((1, "same"), CancellationToken.None);
        var otherPortal = locks.LockAsync((2, "same"), CancellationToken.None);

        Assert.True(otherPortal.IsCompleted, "another portal's look-up of the same email waited");
        Assert.False(sameKey.IsCompleted, "a second look-up of the same key did not wait its turn");
        (await otherPortal).Dispose();
        first.Dispose();
        (await sameKey.WaitAsync(TimeSpan.FromSeconds(5))).Dispose();
        Assert.Equal(0, locks.Count);
    }

    [Fact]
    public async Task A_wait_given_up_leaves_no_lock_behind()
    {
        var locks = new KeyedLocks<string>();
        var held = await locks.LockAsync("k", CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        var waiting = locks.LockAsync("k", cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        held.Dispose();
        Assert.Equal(0, locks.Count);
    }
}
