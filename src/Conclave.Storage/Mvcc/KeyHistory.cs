namespace Conclave.Storage.Mvcc;

/// <summary>
/// Every retained revision of one key, oldest first (ordered by (mod, sub) revision). Generations
/// are implicit: a tombstone ends one, the next put starts the next. Example, key "a":
/// <code>
///   put@2 put@4 del@6 | put@8 put@9        two generations: {2,4,6(t)} and {8,9}
///   after compaction at 7: the largest revision ≤ 7 is the tombstone 6, so it goes too:
///   put@8 put@9
///   after compaction at 8 instead (largest ≤ 8 is put@8, kept):
///   put@8 put@9
///   a key whose history ends in a tombstone ≤ the compaction revision disappears entirely.
/// </code>
/// Mutated only by the writer (under the store's write lock); read under the read lock or by the writer.
/// </summary>
internal sealed class KeyHistory
{
    private KeyValue[] _revs = new KeyValue[1];
    private int _count;

    public KeyHistory(byte[] key)
    {
        Key = key;
    }

    public byte[] Key { get; }

    /// <summary>Revision of the write txn that last recorded this key for rollback (writer only; 0 after a rollback).</summary>
    internal long TouchedAt { get; set; }

    public int Count => _count;

    public KeyValue this[int index] => _revs[index];

    public KeyValue? Latest => _count == 0 ? null : _revs[_count - 1];

    public void Append(KeyValue kv)
    {
        if (_count == _revs.Length)
        {
            Array.Resize(ref _revs, _count * 2);
        }
        _revs[_count++] = kv;
    }

    /// <summary>Drops every revision after the first <paramref name="count"/> (txn rollback).</summary>
    public void TruncateTo(int count)
    {
        Array.Clear(_revs, count, _count - count);
        _count = count;
    }

    /// <summary>Drops the <paramref name="n"/> oldest revisions (compaction).</summary>
    public void RemoveOldest(int n)
    {
        if (n == 0)
        {
            return;
        }
        Array.Copy(_revs, n, _revs, 0, _count - n);
        Array.Clear(_revs, _count - n, n);
        _count -= n;
        if (_count > 0 && _count * 4 < _revs.Length)
        {
            Array.Resize(ref _revs, Math.Max(1, _count * 2));
        }
    }

    /// <summary>Index of the newest revision with mod revision ≤ <paramref name="revision"/>, or -1.</summary>
    public int IndexAtOrBefore(long revision)
    {
        // Most reads want the latest revision: check it first, then binary search.
        if (_count == 0 || _revs[_count - 1].ModRevision <= revision)
        {
            return _count - 1;
        }
        int lo = 0, hi = _count - 2, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_revs[mid].ModRevision <= revision)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    /// <summary>The key's kv as of <paramref name="revision"/>; null when absent or deleted then.</summary>
    public KeyValue? LiveAt(long revision)
    {
        var i = IndexAtOrBefore(revision);
        if (i < 0)
        {
            return null;
        }
        var kv = _revs[i];
        return kv.IsTombstone ? null : kv;
    }

    /// <summary>Index of exactly this kv object, or -1 when it has been compacted away.</summary>
    public int IndexOf(KeyValue kv)
    {
        int lo = 0, hi = _count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var r = _revs[mid];
            var c = r.ModRevision != kv.ModRevision ? r.ModRevision.CompareTo(kv.ModRevision) : r.SubRevision.CompareTo(kv.SubRevision);
            if (c == 0)
            {
                return ReferenceEquals(r, kv) ? mid : -1;
            }
            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return -1;
    }
}
