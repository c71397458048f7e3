namespace Conclave.Storage.Mvcc;

/// <summary>
/// The store's single write transaction (etcd's TxnWrite). Every change it makes carries revision
/// <c>CurrentRevision + 1</c> with increasing sub-revisions; readers do not see them until
/// <see cref="Commit"/> publishes the revision. A txn that changed nothing commits without advancing
/// the revision. Disposing without committing undoes every change.
/// <para>
/// When an operation returns a non-Ok status it has changed nothing itself, but earlier operations
/// of the txn stand: callers that need all-or-nothing (the etcd Txn executor does) dispose the txn.
/// </para>
/// Keys and values passed in are copied; the caller keeps its buffers.
/// </summary>
public sealed class MvccWriteTxn : IDisposable
{
    private readonly MvccStore _store;
    private readonly StoreState _st;
    private readonly long _beginRevision;
    private readonly List<Event> _events = [];
    private readonly List<LogItem> _log = [];
    private readonly List<(KeyHistory History, int Count)> _originalCounts = [];
    private long _bytesAdded;
    private bool _finished;

    internal MvccWriteTxn(MvccStore store, StoreState state)
    {
        _store = store;
        _st = state;
        _beginRevision = state.CurrentRevision;
    }

    /// <summary>The revision this txn reads at and commits: current + 1 once it has changed something, else current.</summary>
    public long Revision => _events.Count > 0 ? _beginRevision + 1 : _beginRevision;

    /// <summary>The store's compaction revision (reads below it fail).</summary>
    public long CompactRevision => _st.CompactRevision;

    /// <summary>Changes made so far, in order.</summary>
    public IReadOnlyList<Event> Events => _events;

    /// <summary>
    /// Range that sees this txn's own earlier writes when <see cref="RangeRequest.Revision"/> is ≤ 0;
    /// an explicit revision above <see cref="Revision"/> is a future revision, below the compaction
    /// revision compacted.
    /// </summary>
    public RangeResult Range(RangeRequest request)
    {
        EnsureOpen();
        var current = Revision;
        if (request.Revision > current)
        {
            return RangeResult.Failed(MvccStatus.FutureRevision, current);
        }
        var rev = request.Revision <= 0 ? current : request.Revision;
        if (rev < _st.CompactRevision)
        {
            return RangeResult.Failed(MvccStatus.Compacted, current);
        }
        return _store.RangeAt(_st, request, rev, current, locked: false);
    }

    /// <summary>
    /// etcd Put. <paramref name="ignoreValue"/> keeps the key's current value and
    /// <paramref name="ignoreLease"/> its current lease; either needs the key to exist
    /// (<see cref="MvccStatus.KeyNotFound"/>) and must come without a value / lease
    /// (<see cref="MvccStatus.ValueProvided"/> / <see cref="MvccStatus.LeaseProvided"/>).
    /// The lease id is recorded as given: whether the lease exists is the lessor's business.
    /// </summary>
    public PutResult Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long lease = 0, bool ignoreValue = false, bool ignoreLease = false)
    {
        EnsureOpen();
        if (key.IsEmpty)
        {
            return new PutResult(MvccStatus.EmptyKey, Revision, null);
        }
        if (ignoreValue && !value.IsEmpty)
        {
            return new PutResult(MvccStatus.ValueProvided, Revision, null);
        }
        if (ignoreLease && lease != 0)
        {
            return new PutResult(MvccStatus.LeaseProvided, Revision, null);
        }
        var h = _st.Index.Get(key);
        var prev = h?.Latest;
        if (prev is not null && prev.IsTombstone)
        {
            prev = null;
        }
        if ((ignoreValue || ignoreLease) && prev is null)
        {
            return new PutResult(MvccStatus.KeyNotFound, Revision, null);
        }
        var valueArray = ignoreValue ? prev!.ValueArray : value.ToArray();
        var newLease = ignoreLease ? prev!.Lease : lease;
        long cost = key.Length + valueArray.Length + MvccStore.RevisionOverheadBytes;
        if (_st.UsedBytes + cost > _store.Options.QuotaBytes)
        {
            return new PutResult(MvccStatus.QuotaExceeded, Revision, null);
        }

        var rev = _beginRevision + 1;
        _store.Lock.EnterWriteLock();
        try
        {
            h ??= _st.Index.GetOrAdd(key, out _);
            Touch(h);
            var kv = new KeyValue(h.Key, valueArray, prev?.CreateRevision ?? rev, rev, _events.Count, (prev?.Version ?? 0) + 1, newLease);
            _st.Detach(h, prev?.Lease ?? 0);
            h.Append(kv);
            _st.Attach(h, newLease);
            _st.UsedBytes += cost;
            _bytesAdded += cost;
            _events.Add(new Event(EventType.Put, kv, prev));
            _log.Add(new LogItem(h, kv));
        }
        finally
        {
            _store.Lock.ExitWriteLock();
        }
        return new PutResult(MvccStatus.Ok, rev, prev);
    }

    /// <summary>
    /// etcd DeleteRange over (key, rangeEnd) as of this txn (its own puts included). Deleting nothing
    /// changes nothing. Deletes are never refused by the quota, although each tombstone is charged.
    /// </summary>
    public DeleteRangeResult DeleteRange(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> rangeEnd = default)
    {
        EnsureOpen();
        if (key.IsEmpty)
        {
            return new DeleteRangeResult(MvccStatus.EmptyKey, Revision, 0, []);
        }
        var live = new List<KeyHistory>();
        _store.Scan(_st, key, rangeEnd, locked: false, long.MaxValue, h =>
        {
            var latest = h.Latest;
            if (latest is not null && !latest.IsTombstone)
            {
                live.Add(h);
            }
        });
        if (live.Count == 0)
        {
            return new DeleteRangeResult(MvccStatus.Ok, Revision, 0, []);
        }
        var rev = _beginRevision + 1;
        var prevs = new KeyValue[live.Count];
        _store.Lock.EnterWriteLock();
        try
        {
            for (var i = 0; i < live.Count; i++)
            {
                var h = live[i];
                var prev = h.Latest!;
                prevs[i] = prev;
                Touch(h);
                var tomb = KeyValue.Tombstone(h.Key, rev, _events.Count);
                _st.Detach(h, prev.Lease);
                h.Append(tomb);
                long cost = h.Key.Length + MvccStore.RevisionOverheadBytes;
                _st.UsedBytes += cost;
                _bytesAdded += cost;
                _events.Add(new Event(EventType.Delete, tomb, prev));
                _log.Add(new LogItem(h, tomb));
            }
        }
        finally
        {
            _store.Lock.ExitWriteLock();
        }
        return new DeleteRangeResult(MvccStatus.Ok, rev, prevs.Length, prevs);
    }

    /// <summary>
    /// Publishes the txn's changes at <see cref="Revision"/> and returns them. With no changes the
    /// revision stays where it was and the batch is empty (and no subscriber is called).
    /// </summary>
    public EventBatch Commit()
    {
        EnsureOpen();
        _finished = true;
        if (_events.Count == 0)
        {
            var empty = new EventBatch(_beginRevision, []);
            _store.EndWrite(this, empty);
            return empty;
        }
        var rev = _beginRevision + 1;
        var batch = new EventBatch(rev, _events.ToArray());
        _store.Lock.EnterWriteLock();
        try
        {
            foreach (var item in _log)
            {
                _st.Log.Add(item);
            }
            _st.CurrentRevision = rev;
        }
        finally
        {
            _store.Lock.ExitWriteLock();
        }
        _store.EndWrite(this, batch);
        return batch;
    }

    /// <summary>Undoes every change unless committed.</summary>
    public void Dispose()
    {
        if (_finished)
        {
            return;
        }
        _finished = true;
        if (_originalCounts.Count > 0)
        {
            _store.Lock.EnterWriteLock();
            try
            {
                for (var i = _originalCounts.Count - 1; i >= 0; i--)
                {
                    var (h, count) = _originalCounts[i];
                    h.TouchedAt = 0;
                    _st.Detach(h, StoreState.AttachedLease(h));
                    h.TruncateTo(count);
                    if (count == 0)
                    {
                        _st.Index.Remove(h);
                    }
                    else
                    {
                        _st.Attach(h, StoreState.AttachedLease(h));
                    }
                }
                _st.UsedBytes -= _bytesAdded;
            }
            finally
            {
                _store.Lock.ExitWriteLock();
            }
        }
        _store.EndWrite(this, null);
    }

    // Records the key's history length before this txn's first change to it.
    private void Touch(KeyHistory h)
    {
        var rev = _beginRevision + 1;
        if (h.TouchedAt != rev)
        {
            h.TouchedAt = rev;
            _originalCounts.Add((h, h.Count));
        }
    }

    private void EnsureOpen()
    {
        if (_finished)
        {
            throw new InvalidOperationException("mvcc: the write transaction has ended");
        }
    }
}
