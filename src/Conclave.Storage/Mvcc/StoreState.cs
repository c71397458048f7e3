namespace Conclave.Storage.Mvcc;

/// <summary>One retained change of a revision: the key's history and the kv it appended there.</summary>
internal readonly record struct LogItem(KeyHistory History, KeyValue Kv);

/// <summary>
/// Everything a store holds. <see cref="MvccStore.Restore"/> builds a new one and swaps it in, so a
/// reader that captured the old one finishes its read on a state nobody mutates any more.
/// </summary>
internal sealed class StoreState
{
    public KeyIndex Index { get; } = new();

    /// <summary>Revision of the last committed write; 1 for an empty store.</summary>
    public long CurrentRevision { get; set; } = 1;

    /// <summary>Last compaction revision; -1 before the first compaction (as etcd's compactMainRev).</summary>
    public long CompactRevision { get; set; } = -1;

    /// <summary>Quota usage of every physically retained revision.</summary>
    public long UsedBytes { get; set; }

    /// <summary>Keys whose latest revision is live and carries the lease.</summary>
    public Dictionary<long, HashSet<KeyHistory>> Leases { get; } = [];

    /// <summary>Changes by revision, ascending, from the compaction revision on (older ones are trimmed as pruning goes).</summary>
    public RevisionLog Log { get; } = new();

    /// <summary>Physical pruning in progress up to this revision (-1: none pending).</summary>
    public long PruneTarget { get; set; } = -1;

    /// <summary>Last key pruned in the current pass; null when the pass starts from the first key.</summary>
    public byte[]? PruneResumeAfter { get; set; }

    public bool PruneKeysDone { get; set; } = true;

    /// <summary>Snapshot writers in progress; physical pruning waits while any is.</summary>
    public int Pins;

    public void Attach(KeyHistory h, long lease)
    {
        if (lease == 0)
        {
            return;
        }
        if (!Leases.TryGetValue(lease, out var set))
        {
            set = new HashSet<KeyHistory>(ReferenceEqualityComparer.Instance);
            Leases[lease] = set;
        }
        set.Add(h);
    }

    public void Detach(KeyHistory h, long lease)
    {
        if (lease == 0 || !Leases.TryGetValue(lease, out var set))
        {
            return;
        }
        set.Remove(h);
        if (set.Count == 0)
        {
            Leases.Remove(lease);
        }
    }

    /// <summary>Lease the key is attached to now (its latest revision, when live).</summary>
    public static long AttachedLease(KeyHistory h)
    {
        var latest = h.Latest;
        return latest is null || latest.IsTombstone ? 0 : latest.Lease;
    }
}
