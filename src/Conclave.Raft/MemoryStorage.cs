namespace Conclave.Raft;

/// <summary>
/// An in-memory <see cref="IRaftStorage"/> that ships in the product: tests and the simulator use it
/// as the "durable" store, and a driver may keep it as the cache in front of its WAL.
/// Layout: <c>_entries[0]</c> is a dummy entry holding the snapshot's (Index, Term); real entries follow.
/// <code>
///   snapshot index s     FirstIndex = s+1            LastIndex
///   [dummy s/term] [s+1] [s+2] ...                   [last]
/// </code>
/// All members are safe to call from several threads (one lock).
/// </summary>
public sealed class MemoryStorage : IRaftStorage
{
    private readonly Lock _lock = new();
    private HardState _hardState;
    private Snapshot _snapshot = Conclave.Raft.Snapshot.Empty;
    private List<Entry> _entries = [new Entry(0, 0)];

    public (HardState HardState, ConfState ConfState) InitialState()
    {
        lock (_lock)
        {
            return (_hardState, _snapshot.Metadata.ConfState);
        }
    }

    public void SetHardState(HardState hs)
    {
        lock (_lock)
        {
            _hardState = hs;
        }
    }

    /// <summary>
    /// Sets the membership reported by <see cref="InitialState"/> without a snapshot: used to
    /// bootstrap a new cluster (empty log, the initial voters) and by drivers that persist the
    /// configuration beside their applied index. The initial voters are not in the log, so every
    /// member, including one added later with an empty log, must be bootstrapped with the same
    /// initial ConfState; it learns later changes from the log (or from a snapshot).
    /// </summary>
    public void SetConfState(ConfState cs)
    {
        lock (_lock)
        {
            _snapshot = _snapshot with { Metadata = _snapshot.Metadata with { ConfState = cs } };
        }
    }

    public IReadOnlyList<Entry> Entries(ulong lo, ulong hi, ulong maxSize)
    {
        lock (_lock)
        {
            var offset = _entries[0].Index;
            if (lo <= offset)
            {
                throw new RaftStorageException(StorageError.Compacted, $"raft storage: index {lo} is compacted (snapshot {offset})");
            }

            if (hi > LastIndexLocked() + 1 || lo > hi)
            {
                throw new RaftStorageException(StorageError.Unavailable, $"raft storage: entries [{lo}, {hi}) out of range (last {LastIndexLocked()})");
            }

            return LogSlice.Limit(_entries, (int)(lo - offset), (int)(hi - offset), maxSize);
        }
    }

    public ulong Term(ulong index)
    {
        lock (_lock)
        {
            var offset = _entries[0].Index;
            if (index < offset)
            {
                throw new RaftStorageException(StorageError.Compacted, $"raft storage: index {index} is compacted (snapshot {offset})");
            }

            if (index - offset >= (ulong)_entries.Count)
            {
                throw new RaftStorageException(StorageError.Unavailable, $"raft storage: index {index} is past the last index {LastIndexLocked()}");
            }

            return _entries[(int)(index - offset)].Term;
        }
    }

    public ulong FirstIndex()
    {
        lock (_lock)
        {
            return _entries[0].Index + 1;
        }
    }

    public ulong LastIndex()
    {
        lock (_lock)
        {
            return LastIndexLocked();
        }
    }

    public Snapshot Snapshot()
    {
        lock (_lock)
        {
            return _snapshot;
        }
    }

    /// <summary>
    /// Replaces the whole log with a snapshot (a follower installing the leader's snapshot).
    /// Throws <see cref="RaftStorageException"/> (SnapshotOutOfDate) for a snapshot older than the one held.
    /// </summary>
    public void ApplySnapshot(Snapshot snap)
    {
        ArgumentNullException.ThrowIfNull(snap);
        lock (_lock)
        {
            if (snap.Metadata.Index < _snapshot.Metadata.Index)
            {
                throw new RaftStorageException(
                    StorageError.SnapshotOutOfDate,
                    $"raft storage: snapshot {snap.Metadata.Index} is older than the held snapshot {_snapshot.Metadata.Index}");
            }

            _snapshot = snap;
            _entries = [new Entry(snap.Metadata.Term, snap.Metadata.Index)];
        }
    }

    /// <summary>
    /// Makes a snapshot at an applied index (the state machine supplies its image in data).
    /// cs defaults to the membership of the previous snapshot. It does not compact: call <see cref="Compact"/>.
    /// </summary>
    public Snapshot CreateSnapshot(ulong index, ConfState? cs, ReadOnlyMemory<byte> data)
    {
        lock (_lock)
        {
            if (index <= _snapshot.Metadata.Index)
            {
                throw new RaftStorageException(
                    StorageError.SnapshotOutOfDate,
                    $"raft storage: snapshot at {index} is not newer than the held snapshot {_snapshot.Metadata.Index}");
            }

            if (index > LastIndexLocked())
            {
                throw new ArgumentOutOfRangeException(nameof(index), $"raft storage: snapshot index {index} is past the last index {LastIndexLocked()}");
            }

            var offset = _entries[0].Index;
            var term = _entries[(int)(index - offset)].Term;
            _snapshot = new Snapshot(new SnapshotMetadata(index, term, cs ?? _snapshot.Metadata.ConfState), data);
            return _snapshot;
        }
    }

    /// <summary>
    /// Discards the entries before compactIndex; compactIndex becomes the dummy entry. The driver
    /// must not compact past its applied index. Throws <see cref="RaftStorageException"/> (Compacted)
    /// when compactIndex is already compacted.
    /// </summary>
    public void Compact(ulong compactIndex)
    {
        lock (_lock)
        {
            var offset = _entries[0].Index;
            if (compactIndex <= offset)
            {
                throw new RaftStorageException(StorageError.Compacted, $"raft storage: index {compactIndex} is already compacted (first {offset + 1})");
            }

            if (compactIndex > LastIndexLocked())
            {
                throw new ArgumentOutOfRangeException(nameof(compactIndex), $"raft storage: compact index {compactIndex} is past the last index {LastIndexLocked()}");
            }

            var i = (int)(compactIndex - offset);
            var kept = new List<Entry>(_entries.Count - i) { new(_entries[i].Term, _entries[i].Index) };
            kept.AddRange(_entries.Skip(i + 1));
            _entries = kept;
        }
    }

    /// <summary>
    /// Appends entries that follow on (or overlap) the log. An entry at an index already present
    /// replaces it and everything after it. Entries at or before the snapshot are skipped.
    /// A gap after the last index is a bug in the caller and throws.
    /// </summary>
    public void Append(IReadOnlyList<Entry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            var first = _entries[0].Index + 1;
            var last = entries[0].Index + (ulong)entries.Count - 1;
            if (last < first)
            {
                return;
            }

            var skip = first > entries[0].Index ? (int)(first - entries[0].Index) : 0;
            var start = entries[skip].Index - _entries[0].Index;
            if (start > (ulong)_entries.Count)
            {
                throw new ArgumentException($"raft storage: missing log entries [last {LastIndexLocked()}, append at {entries[skip].Index}]");
            }

            _entries.RemoveRange((int)start, _entries.Count - (int)start);
            for (var i = skip; i < entries.Count; i++)
            {
                _entries.Add(entries[i]);
            }
        }
    }

    private ulong LastIndexLocked() => _entries[0].Index + (ulong)_entries.Count - 1;
}

/// <summary>Helpers for cutting runs of entries by size.</summary>
internal static class LogSlice
{
    /// <summary>Payload size the size limits count (entry data plus a fixed per-entry overhead).</summary>
    public static ulong SizeOf(in Entry e) => (ulong)e.Data.Length + 16;

    /// <summary>Copies list[lo..hi) keeping at least one entry and stopping before maxSize bytes would be exceeded.</summary>
    public static List<Entry> Limit(IReadOnlyList<Entry> list, int lo, int hi, ulong maxSize)
    {
        var result = new List<Entry>(Math.Min(hi - lo, 64));
        ulong size = 0;
        for (var i = lo; i < hi; i++)
        {
            size += SizeOf(list[i]);
            if (result.Count > 0 && size > maxSize)
            {
                break;
            }

            result.Add(list[i]);
        }

        return result;
    }
}
