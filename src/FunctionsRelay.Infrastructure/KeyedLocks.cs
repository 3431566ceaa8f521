namespace FunctionsRelay.Infrastructure;

/// <summary>
/// One lock per key, made while it is wanted and dropped when nobody holds or waits for it: callers of one key take
/// turns, callers of different keys never wait for each other (unlike a fixed set of striped locks, where two keys that
/// share a stripe do).
/// </summary>
public sealed class KeyedLocks<TKey>
    where TKey : notnull
{
    private readonly Dictionary<TKey, Entry> _locks = [];

    /// <summary>Waits for the key's turn; disposing the answer ends it.</summary>
    public async Task<IDisposable> LockAsync(TKey key, CancellationToken cancellationToken)
    {
        Entry entry;
        lock (_locks)
        {
            if (!_locks.TryGetValue(key, out entry!))
                _locks[key] = entry = new Entry();
            entry.Users++;
        }

        try
        {
            await entry.Turn.WaitAsync(cancellationToken);
        }
        catch
        {
            Leave(key, entry);
            throw;
        }

        return new Held(this, key, entry);
    }

    /// <summary>Keys with a lock now: held or waited for.</summary>
    public int Count
    {
        get
        {
            lock (_locks)
                return _locks.Count;
        }
    }

    private void Leave(TKey key, Entry entry)
    {
        lock (_locks)
        {
            if (--entry.Users == 0)
                _locks.Remove(key);
        }
    }

    private sealed class Entry
    {
        public SemaphoreSlim Turn { get; } = new(1, 1);

        public int Users { get; set; }
    }

    private sealed class Held(KeyedLocks<TKey> owner, TKey key, Entry entry) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0)
                return;
            entry.Turn.Release();
            owner.Leave(key, entry);
        }
    }
}
