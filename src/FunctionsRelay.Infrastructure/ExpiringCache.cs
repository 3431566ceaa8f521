using System.Collections.Concurrent;

namespace FunctionsRelay.Infrastructure;

/// <summary>
/// Values kept in memory until they expire, and never more than <c>capacity</c> of them: where keys come from outside
/// (portal ids in requests, viewers' utks) an unbounded dictionary would grow until the process runs out of memory. At
/// capacity the expired entries go, and if that leaves it more than three quarters full, all of them: a miss costs one
/// look-up, an entry too many could cost the instance.
/// </summary>
public sealed class ExpiringCache<TKey, TValue>(int capacity, TimeProvider time)
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, (TValue Value, DateTimeOffset Until)> _entries = new();

    public int Count => _entries.Count;

    public bool TryGet(TKey key, out TValue value)
    {
        if (_entries.TryGetValue(key, out var entry) && entry.Until > time.GetUtcNow())
        {
            value = entry.Value;
            return true;
        }

        value = default!;
        return false;
    }

    public void Set(TKey key, TValue value, TimeSpan keepFor)
    {
        if (_entries.Count >= capacity && !_entries.ContainsKey(key))
            Trim();
        _entries[key] = (value, time.GetUtcNow() + keepFor);
    }

    public void Remove(TKey key) => _entries.TryRemove(key, out _);

    private void Trim()
    {
        var now = time.GetUtcNow();
        foreach (var (key, entry) in _entries)
        {
            if (entry.Until <= now)
                _entries.TryRemove(key, out _);
        }

        if (_entries.Count > capacity * 3 / 4)
            _entries.Clear();
    }
}
