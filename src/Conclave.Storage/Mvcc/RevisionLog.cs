namespace Conclave.Storage.Mvcc;

/// <summary>
/// Retained revisions in ascending order, for event catch-up: append at the end, drop from the front
/// (compaction). Stored in fixed-size chunks so that dropping never moves the rest — a flat list
/// would memmove millions of references in one compaction step. Indexes are relative to the first
/// retained entry. Guarded by the store's lock like the rest of the state.
/// </summary>
internal sealed class RevisionLog
{
    private const int ChunkSize = 4096;

    private readonly List<RevisionEntry?[]> _chunks = [];
    private int _head;
    private int _tail;

    public int Count { get; private set; }

    public RevisionEntry this[int index]
    {
        get
        {
            var p = index + _head;
            return _chunks[p / ChunkSize][p % ChunkSize]!;
        }
    }

    public void Add(RevisionEntry entry)
    {
        if (_chunks.Count == 0 || _tail == ChunkSize)
        {
            _chunks.Add(new RevisionEntry?[ChunkSize]);
            _tail = 0;
        }
        _chunks[^1][_tail++] = entry;
        Count++;
    }

    public void RemoveFirst()
    {
        _chunks[0][_head++] = null;
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

    /// <summary>Index of the first entry with revision ≥ <paramref name="revision"/> (Count when none).</summary>
    public int Seek(long revision)
    {
        int lo = 0, hi = Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (this[mid].Revision < revision)
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
