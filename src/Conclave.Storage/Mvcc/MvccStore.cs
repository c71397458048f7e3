namespace Conclave.Storage.Mvcc;

/// <summary>
/// The in-memory multi-version key-value store with etcd v3 revision semantics.
/// <para>
/// Threading: ONE writer — the apply loop — calls <see cref="BeginWrite"/>, <see cref="Compact"/>,
/// <see cref="StepCompaction"/> and <see cref="Restore"/>, one at a time (a second open write txn is a
/// bug and throws). ANY number of threads read concurrently (<see cref="Range"/>, <see cref="EventsSince"/>,
/// <see cref="HashKV"/>, <see cref="KeysWithLease"/>, <see cref="WriteSnapshot"/>).
/// </para>
/// <para>
/// Consistency: a read picks the current revision R once and returns exactly the state at R.
/// History is append-only above R, so the writer may append revision R+1 while a reader is at R;
/// uncommitted revisions are invisible because readers never look above R. The writer takes the
/// write lock of a <see cref="ReaderWriterLockSlim"/> only for the few instructions that mutate
/// (append one revision, publish a commit, prune a bounded step); readers hold the read lock for at
/// most <see cref="MvccStoreOptions.ReadChunkKeys"/> keys at a time and re-seek after it, so a large
/// range delays the writer by one chunk at most. If a compaction above R lands between chunks the
/// read ends with <see cref="MvccStatus.Compacted"/>, as if the compaction had come first.
/// </para>
/// </summary>
public sealed partial class MvccStore : IDisposable
{
    /// <summary>Quota bytes charged per retained revision on top of key and value (index, kv header, history slot).</summary>
    public const int RevisionOverheadBytes = 64;

    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly List<Action<EventBatch>> _subscribers = [];
    private volatile StoreState _state = new();
    private MvccWriteTxn? _writer;

    public MvccStore(MvccStoreOptions? options = null)
    {
        Options = options ?? new MvccStoreOptions();
    }

    public MvccStoreOptions Options { get; }

    /// <summary>Revision of the last committed write; an empty store is at 1.</summary>
    public long CurrentRevision
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _state.CurrentRevision;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Revision of the last compaction, -1 before any (etcd's value).</summary>
    public long CompactRevision
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _state.CompactRevision;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Quota bytes in use (see <see cref="MvccStoreOptions.QuotaBytes"/>); falls as compaction prunes.</summary>
    public long UsedBytes
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _state.UsedBytes;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>Number of keys physically in the index (live or with retained history).</summary>
    internal int IndexedKeys => _state.Index.Count;

    /// <summary>True while a compaction still has history to prune physically.</summary>
    public bool CompactionPending
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _state.PruneTarget >= 0;
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    internal ReaderWriterLockSlim Lock => _lock;

    internal StoreState State => _state;

    public void Dispose() => _lock.Dispose();

    /// <summary>
    /// Starts the one write transaction. Everything it does becomes visible at one new revision on
    /// <see cref="MvccWriteTxn.Commit"/>, or is undone on Dispose without commit.
    /// </summary>
    public MvccWriteTxn BeginWrite()
    {
        if (_writer is not null)
        {
            throw new InvalidOperationException("mvcc: a write transaction is already open; the store has one writer");
        }
        _writer = new MvccWriteTxn(this, _state);
        return _writer;
    }

    internal void EndWrite(MvccWriteTxn txn, EventBatch? committed)
    {
        if (!ReferenceEquals(_writer, txn))
        {
            throw new InvalidOperationException("mvcc: ending a write transaction that is not the open one");
        }
        _writer = null;
        if (committed is null || committed.Events.Count == 0)
        {
            return;
        }
        Action<EventBatch>[] subscribers;
        lock (_subscribers)
        {
            subscribers = _subscribers.Count == 0 ? [] : [.. _subscribers];
        }
        foreach (var s in subscribers)
        {
            s(committed);
        }
        if (_state.PruneTarget >= 0)
        {
            StepCompaction();
        }
    }

    /// <summary>
    /// Calls <paramref name="onCommit"/> on the writer's thread after every commit that changed something,
    /// with that revision's events (each Put/Delete with its PrevKv). Dispose the result to unsubscribe.
    /// </summary>
    public IDisposable Subscribe(Action<EventBatch> onCommit)
    {
        lock (_subscribers)
        {
            _subscribers.Add(onCommit);
        }
        return new Subscription(this, onCommit);
    }

    private sealed class Subscription(MvccStore store, Action<EventBatch> handler) : IDisposable
    {
        public void Dispose()
        {
            lock (store._subscribers)
            {
                store._subscribers.Remove(handler);
            }
        }
    }

    private void EnsureNoWriter(string what)
    {
        if (_writer is not null)
        {
            throw new InvalidOperationException($"mvcc: {what} while a write transaction is open");
        }
    }

    /// <summary>Reads at a revision; see <see cref="RangeRequest"/> and etcd's Range. An empty key is <see cref="MvccStatus.EmptyKey"/>.</summary>
    public RangeResult Range(RangeRequest request)
    {
        StoreState st;
        long current, compact;
        _lock.EnterReadLock();
        try
        {
            st = _state;
            current = st.CurrentRevision;
            compact = st.CompactRevision;
        }
        finally
        {
            _lock.ExitReadLock();
        }
        if (request.Key.IsEmpty)
        {
            return RangeResult.Failed(MvccStatus.EmptyKey, current);
        }
        var rev = request.Revision <= 0 ? current : request.Revision;
        if (request.Revision > current)
        {
            return RangeResult.Failed(MvccStatus.FutureRevision, current);
        }
        if (rev < compact)
        {
            return RangeResult.Failed(MvccStatus.Compacted, current);
        }
        return RangeAt(st, request, rev, current, locked: true);
    }

    /// <summary>
    /// The etcd apply-layer range at <paramref name="rev"/> (already validated): fetch (limit+1 unless
    /// sorting or filtering), drop by the revision filters, sort, cut to the limit.
    /// </summary>
    internal RangeResult RangeAt(StoreState st, RangeRequest r, long rev, long headerRevision, bool locked)
    {
        var fetchLimit = r.Limit;
        if (r.SortOrder != SortOrder.None || r.MinModRevision != 0 || r.MaxModRevision != 0 ||
            r.MinCreateRevision != 0 || r.MaxCreateRevision != 0)
        {
            fetchLimit = 0;
        }
        if (fetchLimit > 0)
        {
            fetchLimit++;
        }
        var kvs = new List<KeyValue>();
        long total = 0;
        var ok = Scan(st, r.Key, r.RangeEnd, locked, rev, h =>
        {
            var kv = h.LiveAt(rev);
            if (kv is null)
            {
                return;
            }
            total++;
            if (!r.CountOnly && (fetchLimit <= 0 || kvs.Count < fetchLimit))
            {
                kvs.Add(kv);
            }
        });
        if (!ok)
        {
            return RangeResult.Failed(MvccStatus.Compacted, headerRevision);
        }

        if (r.MaxModRevision != 0)
        {
            kvs.RemoveAll(kv => kv.ModRevision > r.MaxModRevision);
        }
        if (r.MinModRevision != 0)
        {
            kvs.RemoveAll(kv => kv.ModRevision < r.MinModRevision);
        }
        if (r.MaxCreateRevision != 0)
        {
            kvs.RemoveAll(kv => kv.CreateRevision > r.MaxCreateRevision);
        }
        if (r.MinCreateRevision != 0)
        {
            kvs.RemoveAll(kv => kv.CreateRevision < r.MinCreateRevision);
        }

        var order = r.SortOrder;
        if (r.SortTarget != SortTarget.Key && order == SortOrder.None)
        {
            order = SortOrder.Ascend;
        }
        else if (r.SortTarget == SortTarget.Key && order == SortOrder.Ascend)
        {
            order = SortOrder.None;
        }
        if (order != SortOrder.None)
        {
            SortKvs(kvs, r.SortTarget, order);
        }

        var more = false;
        if (r.Limit > 0 && kvs.Count > r.Limit)
        {
            kvs.RemoveRange((int)r.Limit, kvs.Count - (int)r.Limit);
            more = true;
        }
        if (r.KeysOnly)
        {
            for (var i = 0; i < kvs.Count; i++)
            {
                kvs[i] = kvs[i].WithoutValue();
            }
        }
        return new RangeResult(MvccStatus.Ok, kvs, more, total, headerRevision);
    }

    // Ties (equal version, create, mod or value) keep ascending key order, in both directions.
    private static void SortKvs(List<KeyValue> kvs, SortTarget target, SortOrder order)
    {
        var sign = order == SortOrder.Descend ? -1 : 1;
        Comparison<KeyValue> byTarget = target switch
        {
            SortTarget.Key => (a, b) => a.Key.Span.SequenceCompareTo(b.Key.Span),
            SortTarget.Version => (a, b) => a.Version.CompareTo(b.Version),
            SortTarget.Create => (a, b) => a.CreateRevision.CompareTo(b.CreateRevision),
            SortTarget.Mod => (a, b) => a.ModRevision.CompareTo(b.ModRevision),
            SortTarget.Value => (a, b) => a.Value.Span.SequenceCompareTo(b.Value.Span),
            _ => throw new ArgumentOutOfRangeException(nameof(target), target, null),
        };
        kvs.Sort((a, b) =>
        {
            var c = sign * byTarget(a, b);
            return c != 0 ? c : a.Key.Span.SequenceCompareTo(b.Key.Span);
        });
    }

    /// <summary>
    /// Visits every key history in (key, rangeEnd) in key order. With <paramref name="locked"/> the read
    /// lock is held per chunk of keys and the scan stops (returns false) if the store gets compacted above
    /// <paramref name="readRevision"/> in between; the writer scans unlocked.
    /// </summary>
    internal bool Scan(StoreState st, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> rangeEnd, bool locked, long readRevision, Action<KeyHistory> visit)
    {
        if (rangeEnd.IsEmpty)
        {
            if (locked)
            {
                _lock.EnterReadLock();
            }
            try
            {
                if (st.CompactRevision > readRevision)
                {
                    return false;
                }
                var h = st.Index.Get(key.Span);
                if (h is not null)
                {
                    visit(h);
                }
                return true;
            }
            finally
            {
                if (locked)
                {
                    _lock.ExitReadLock();
                }
            }
        }

        byte[]? resumeAfter = null;
        while (true)
        {
            if (locked)
            {
                _lock.EnterReadLock();
            }
            try
            {
                if (st.CompactRevision > readRevision)
                {
                    return false;
                }
                var c = resumeAfter is null ? st.Index.Seek(key.Span) : st.Index.Seek(resumeAfter, exclusive: true);
                var n = 0;
                while (c.Valid)
                {
                    var h = c.Current;
                    if (KeyRange.IsPastEnd(rangeEnd.Span, h.Key))
                    {
                        return true;
                    }
                    if (locked && n == Options.ReadChunkKeys)
                    {
                        break;
                    }
                    visit(h);
                    n++;
                    resumeAfter = h.Key;
                    c.MoveNext();
                }
                if (!c.Valid)
                {
                    return true;
                }
            }
            finally
            {
                if (locked)
                {
                    _lock.ExitReadLock();
                }
            }
        }
    }
}
