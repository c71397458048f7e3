namespace Conclave.Server.Watch;

/// <summary>
/// The synced watchers, indexed for matching a changed key: single-key watchers by key (one hash lookup
/// per event), range watchers in a set that is scanned per event. Not thread-safe: the hub's lock guards it.
/// </summary>
internal sealed class WatcherGroup
{
    private readonly Dictionary<byte[], HashSet<Watcher>> _byKey = new(ByteKeyComparer.Instance);
    private readonly HashSet<Watcher> _ranges = [];

    public int Count { get; private set; }

    public void Add(Watcher w)
    {
        if (w.IsSingleKey)
        {
            if (!_byKey.TryGetValue(w.Key, out var set))
            {
                set = [];
                _byKey.Add(w.Key, set);
            }
            if (!set.Add(w))
            {
                throw new InvalidOperationException($"watch: {w} is already in the group");
            }
        }
        else if (!_ranges.Add(w))
        {
            throw new InvalidOperationException($"watch: {w} is already in the group");
        }
        Count++;
    }

    public bool Remove(Watcher w)
    {
        bool removed;
        if (w.IsSingleKey)
        {
            removed = _byKey.TryGetValue(w.Key, out var set) && set.Remove(w);
            if (removed && set!.Count == 0)
            {
                _byKey.Remove(w.Key);
            }
        }
        else
        {
            removed = _ranges.Remove(w);
        }
        if (removed)
        {
            Count--;
        }
        return removed;
    }

    /// <summary>Every watcher of the group, copied.</summary>
    public List<Watcher> ToList()
    {
        var all = new List<Watcher>(Count);
        foreach (var set in _byKey.Values)
        {
            all.AddRange(set);
        }
        all.AddRange(_ranges);
        return all;
    }

    /// <summary>Adds to <paramref name="into"/> every watcher whose range contains <paramref name="key"/>.</summary>
    public void Match(ReadOnlySpan<byte> key, List<Watcher> into)
    {
        var lookup = _byKey.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (lookup.TryGetValue(key, out var set))
        {
            into.AddRange(set);
        }
        foreach (var w in _ranges)
        {
            if (w.Contains(key))
            {
                into.Add(w);
            }
        }
    }
}
