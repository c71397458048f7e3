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
    // Most keys have one retained revision: it is kept inline (a KeyValue) and an array is only
    // allocated for a second one. Otherwise a KeyValue[] whose first _count slots are used.
    private object? _revs;
    private int _count;

    public KeyHistory(byte[] key)
    {
        Key = key;
    }

    public byte[] Key { get; }

    /// <summary>Revision of the write txn that last recorded this key for rollback (writer only; 0 after a rollback).</summary>
    internal long TouchedAt { get; set; }

    public int Count => _count;

    public KeyValue this[int index] => At(index);

    public KeyValue? Latest => _count == 0 ? null : At(_count - 1);

    private KeyValue At(int index) => _revs is KeyValue[] many ? many[index] : (KeyValue)_revs!;

    public void Append(KeyValue kv)
    {
        if (_count == 0)
        {
            if (_revs is KeyValue[] empty)
            {
                empty[0] = kv;
            }
            else
            {
                _revs = kv;
            }
        }
        else if (_revs is KeyValue one)
        {
            _revs = new KeyValue[] { one, kv };
        }
        else
        {
            var many = (KeyValue[])_revs!;
            if (_count == many.Length)
            {
                Array.Resize(ref many, _count * 2);
                _revs = many;
            }
            many[_count] = kv;
        }
        _count++;
    }

    /// <summary>Drops every revision after the first <paramref name="count"/> (txn rollback).</summary>
    public void TruncateTo(int count)
    {
        if (_revs is KeyValue[] many)
        {
            Array.Clear(many, count, _count - count);
        }
        else if (count == 0)
        {
            _revs = null;
        }
        _count = count;
    }

    /// <summary>Drops the <paramref name="n"/> oldest revisions (compaction).</summary>
    public void RemoveOldest(int n)
    {
        if (n == 0)
        {
            return;
        }
        if (_revs is not KeyValue[] many)
        {
            // n == _count == 1.
            _revs = null;
            _count = 0;
            return;
        }
        Array.Copy(many, n, many, 0, _count - n);
        Array.Clear(many, _count - n, n);
        _count -= n;
        if (_count == 1)
        {
            _revs = many[0];
        }
        else if (_count > 0 && _count * 4 < many.Length)
        {
            Array.Resize(ref many, _count * 2);
            _revs = many;
        }
    }

    /// <summary>Index of the newest revision with mod revision ≤ <paramref name="revision"/>, or -1.</summary>
    public int IndexAtOrBefore(long revision)
    {
        // Most reads want the latest revision: check it first, then binary search.
        if (_count == 0 || At(_count - 1).ModRevision <= revision)
        {
            return _count - 1;
        }
        int lo = 0, hi = _count - 2, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (At(mid).ModRevision <= revision)
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
        var kv = At(i);
        return kv.IsTombstone ? null : kv;
    }

    /// <summary>Index of exactly this kv object, or -1 when it has been compacted away.</summary>
    public int IndexOf(KeyValue kv)
    {
        int lo = 0, hi = _count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var r = At(mid);
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
