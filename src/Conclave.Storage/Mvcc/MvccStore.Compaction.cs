namespace Conclave.Storage.Mvcc;

/// <summary>
/// Compaction in two halves.
/// <list type="number">
/// <item><see cref="Compact"/> is logical and O(1): it sets the compaction revision C, after which reads
/// below C fail, and every answer (range, events, hash, snapshot) is computed as if history below C were gone.</item>
/// <item><see cref="StepCompaction"/> prunes physically, <see cref="MvccStoreOptions.CompactionStepKeys"/>
/// keys per call under the write lock (well under a millisecond for 1000 keys), resuming after the last key
/// it pruned. Each commit runs one step while a compaction is pending, and the server's apply loop may call
/// it when idle. A newer Compact restarts the pass from the first key at the new revision.</item>
/// </list>
/// Pruning a key keeps its newest revision ≤ C unless that is a tombstone, and drops everything older;
/// a key left with no revisions leaves the index. Revisions above C are never touched.
/// </summary>
public sealed partial class MvccStore
{
    /// <summary>
    /// etcd Compact: <see cref="MvccStatus.Compacted"/> when <paramref name="revision"/> ≤ the current
    /// compaction revision, <see cref="MvccStatus.FutureRevision"/> when above the current revision.
    /// Compacting at the current revision is allowed.
    /// </summary>
    public MvccStatus Compact(long revision)
    {
        EnsureNoWriter("compact");
        _lock.EnterWriteLock();
        try
        {
            var st = _state;
            if (revision <= st.CompactRevision)
            {
                return MvccStatus.Compacted;
            }
            if (revision > st.CurrentRevision)
            {
                return MvccStatus.FutureRevision;
            }
            st.CompactRevision = revision;
            st.PruneTarget = revision;
            st.PruneResumeAfter = null;
            st.PruneKeysDone = false;
            return MvccStatus.Ok;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>
    /// Prunes up to <paramref name="maxKeys"/> keys (default <see cref="MvccStoreOptions.CompactionStepKeys"/>)
    /// of the pending compaction. Returns true while work remains. Writer thread only.
    /// </summary>
    public bool StepCompaction(int maxKeys = 0)
    {
        EnsureNoWriter("compaction step");
        if (maxKeys <= 0)
        {
            maxKeys = Options.CompactionStepKeys;
        }
        _lock.EnterWriteLock();
        try
        {
            var st = _state;
            if (st.PruneTarget < 0)
            {
                return false;
            }
            if (st.Pins > 0)
            {
                return true;
            }
            var target = st.PruneTarget;
            if (!st.PruneKeysDone)
            {
                var batch = new List<KeyHistory>(maxKeys);
                var c = st.PruneResumeAfter is null ? st.Index.First() : st.Index.Seek(st.PruneResumeAfter, exclusive: true);
                while (c.Valid && batch.Count < maxKeys)
                {
                    batch.Add(c.Current);
                    c.MoveNext();
                }
                st.PruneKeysDone = !c.Valid;
                foreach (var h in batch)
                {
                    PruneKey(st, h, target);
                }
                if (batch.Count > 0)
                {
                    st.PruneResumeAfter = batch[^1].Key;
                }
            }

            // The revision log is only read at revisions ≥ the compaction revision. Dropping an entry is a
            // store of null, so a step trims many more of them than it prunes keys.
            var trimmed = 0;
            while (st.Log.Count > 0 && st.Log.RevisionAt(0) < target && trimmed < maxKeys * 64)
            {
                st.Log.RemoveFirst();
                trimmed++;
            }
            var logDone = st.Log.Count == 0 || st.Log.RevisionAt(0) >= target;
            if (st.PruneKeysDone && logDone)
            {
                st.PruneTarget = -1;
                st.PruneResumeAfter = null;
                return false;
            }
            return true;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Runs compaction steps until nothing is pending (tests, restore, tools; not the apply loop).</summary>
    public void FinishCompaction()
    {
        while (StepCompaction())
        {
        }
    }

    private static void PruneKey(StoreState st, KeyHistory h, long target)
    {
        var i = h.IndexAtOrBefore(target);
        if (i < 0)
        {
            return;
        }
        var remove = h[i].IsTombstone ? i + 1 : i;
        if (remove == 0)
        {
            return;
        }
        long freed = 0;
        for (var j = 0; j < remove; j++)
        {
            freed += Cost(h[j]);
        }
        h.RemoveOldest(remove);
        st.UsedBytes -= freed;
        if (h.Count == 0)
        {
            st.Index.Remove(h);
        }
    }

    internal static long Cost(KeyValue kv) => kv.KeyArray.Length + kv.ValueArray.Length + RevisionOverheadBytes;

    /// <summary>
    /// The revisions of <paramref name="h"/> that exist logically when compacted at <paramref name="compact"/>
    /// and read up to <paramref name="upTo"/>: from the newest ≤ compact (skipped when a tombstone) through
    /// the last ≤ upTo. Returns the index range [from, to).
    /// </summary>
    internal static (int From, int To) LogicalRevisions(KeyHistory h, long compact, long upTo)
    {
        var to = h.IndexAtOrBefore(upTo) + 1;
        var from = 0;
        var k = h.IndexAtOrBefore(compact);
        if (k >= 0)
        {
            from = h[k].IsTombstone ? k + 1 : k;
        }
        return (from, Math.Max(from, to));
    }
}
