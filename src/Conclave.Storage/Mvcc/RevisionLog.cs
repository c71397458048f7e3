namespace Conclave.Storage.Mvcc;

/// <summary>
/// Retained changes in ascending (revision, sub revision) order, for event catch-up: append at the
/// end, drop from the front (compaction). One 16-byte <see cref="LogItem"/> per change, inline in
/// fixed-size chunks (no object per revision: at a million single-put revisions that saves about
/// 64 bytes each), so that dropping never moves the rest — a flat list would memmove millions of
/// entries in one compaction step. The changes of one revision are consecutive; the revision of an
/// item is its kv's ModRevision. Indexes are relative to the first retained item. Guarded by the
/// store's lock like the rest of the state.
/// </summary>
internal sealed class RevisionLog
{
    private const int ChunkSize = 4096;

    private readonly List<LogItem[]> _chunks = [];
    private int _head;
    private int _tail;

    public int Count { get; private set; }

    /// <summary>Revision of the item at <paramref name="index"/>.</summary>
    public long RevisionAt(int index) => this[index].Kv.ModRevision;

    public ref readonly LogItem this[int index]
    {
        get
        {
            var p = index + _head;
            return ref _chunks[p / ChunkSize][p % ChunkSize];
        }
    }

    public void Add(in LogItem entry)
    {
        if (_chunks.Count == 0 || _tail == ChunkSize)
        {
            _chunks.Add(new LogItem[ChunkSize]);
            _tail = 0;
        }
        _chunks[^1][_tail++] = entry;
        Count++;
    }

    public void RemoveFirst()
    {
        _chunks[0][_head++] = default;
        Count--;
        if (_head == ChunkSize || Count == 0)
        {
            if (Count == 0)
            {
                _chunks.Clear();
            }
            else
            {
                _chunks.RemoveAt(0);
            }
            _head = 0;
        }
    }

    /// <summary>Index of the first item with revision ≥ <paramref name="revision"/> (Count when none).</summary>
    public int Seek(long revision)
    {
        int lo = 0, hi = Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (RevisionAt(mid) < revision)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }
}
