using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// An instance updates a session it saved last from its own copy, without reading the row again, and never from a copy
/// another instance's save made stale: two repositories (two instances) on one table, behind a proxy that counts what
/// each update cost.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class SessionCopyTests(Azurite azurite) : IAsyncLifetime
{
    private const long Portal = 6262;
    private readonly string _table = "copies" + Guid.NewGuid().ToString("N")[..8];
    private StorageProxy _storage = null!;
    private SessionRepository _first = null!;
    private SessionRepository _second = null!;

    /// <summary>Moved on between messages: a copy younger than a second is mostly the same message's work, and not counted.</summary>
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    public async Task InitializeAsync()
    {
        _storage = await StorageProxy.StartAsync(azurite.QueuePort, azurite.TablePort);
        _first = Repository();
        _second = Repository();
        await _first.CreateIfNotExistsAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _storage.DisposeAsync();

    private SessionRepository Repository()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [StorageClients.ConnectionName] = _storage.ConnectionString })
            .Build();
        var options = Options.Create(new RelayOptions { SessionsTable = _table });
        return new SessionRepository(new StorageClients(configuration, options), options, _time);
    }

    private long Count(string kind) => _storage.SnapshotByResource().GetValueOrDefault($"table {kind} {_table}");

    /// <summary>Adds one to the session's duplicate count, which both instances change: a lost update shows as a short count.</summary>
    private Task<StoredSession?> BumpAsync(SessionRepository repository, string sessionId)
    {
        _time.Advance(TimeSpan.FromSeconds(3));
        return repository.UpdateAsync(Portal, sessionId, createIfMissing: true, (session, _) =>
        {
            session.DuplicatesDropped++;
            return Task.FromResult(true);
        }, CancellationToken.None);
    }

    [Fact]
    public async Task The_instance_that_saved_a_session_last_updates_it_without_reading_it_and_a_stale_copy_is_redone_on_a_fresh_read()
    {
        await BumpAsync(_first, "copy");
        var (reads, upserts) = (Count("read"), Count("upsert"));

        await BumpAsync(_first, "copy");
        await BumpAsync(_first, "copy");

        Assert.Equal(reads, Count("read"));
        Assert.Equal(upserts + 2, Count("upsert"));

        // The other instance saves: the first one's copy is stale. Its next update is refused once, read and redone.
        await BumpAsync(_second, "copy");
        var refusedBefore = Count("upsert answered (412)");
        var updated = await BumpAsync(_first, "copy");

        Assert.Equal(refusedBefore + 1, Count("upsert answered (412)"));
        Assert.Equal(5, updated!.Session.DuplicatesDropped);
        Assert.Equal(5, (await _second.GetAsync(Portal, "copy", CancellationToken.None))!.Session.DuplicatesDropped);
    }

    [Fact]
    public async Task A_change_from_a_copy_that_saves_nothing_is_decided_again_on_a_fresh_read()
    {
        await BumpAsync(_first, "unsaved");
        await BumpAsync(_second, "unsaved");
        var reads = Count("read");
        var seen = new List<long>();

        await _first.UpdateAsync(Portal, "unsaved", createIfMissing: false, (session, _) =>
        {
            seen.Add(session.DuplicatesDropped);
            return Task.FromResult(false);
        }, CancellationToken.None);

        // First from its stale copy (1), then from the row as the other instance saved it (2).
        Assert.Equal([1, 2], seen);
        Assert.Equal(reads + 1, Count("read"));
    }

    [Fact]
    public async Task Instances_that_take_turns_on_every_session_stop_using_their_copies_and_lose_no_update()
    {
        const int Turns = 100;
        for (var turn = 0; turn < Turns; turn++)
            await BumpAsync(turn % 2 == 0 ? _first : _second, "turns");
        var refusedMidway = Count("upsert answered (412)");
        for (var turn = 0; turn < 20; turn++)
            await BumpAsync(turn % 2 == 0 ? _first : _second, "turns");

        Assert.Equal(Turns + 20, (await _first.GetAsync(Portal, "turns", CancellationToken.None))!.Session.DuplicatesDropped);
        // Each instance's copies from its last message went stale every time: each gave them up after some refusals, and
        // then read first.
        Assert.InRange(refusedMidway, 2, Turns - 1);
        Assert.Equal(refusedMidway, Count("upsert answered (412)"));
        Assert.True(_first.CurrentShare < 0.75 && _second.CurrentShare < 0.75, $"shares {_first.CurrentShare:F2}, {_second.CurrentShare:F2}");
    }
}
