using System.Collections.Concurrent;

namespace FunctionsRelay.Infrastructure;

/// <summary>
/// Values kept in memory until they expire, and never more than <c>capacity</c> of them: where keys come from outside
/// (portal ids in requests, viewers' utks) an unbounded dictionary would grow until the process runs out of memory. At
/// capacity the expired entries go, and if that leaves it more than three quarters full, those that would expire
/// soonest, down to three quarters: a flood of made-up keys (which the caches keep briefly: an unknown portal, a utk
/// that is no contact) pushes out its own kind first, not every portal's long-lived entries (a contact, a known portal).
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

        var excess = _entries.Count - (capacity * 3 / 4);
        if (excess <= 0)
            return;
        foreach (var (key, _) in _entries.OrderBy(entry => entry.Value.Until).Take(excess).ToList())
            _entries.TryRemove(key, out _);
    }
}
