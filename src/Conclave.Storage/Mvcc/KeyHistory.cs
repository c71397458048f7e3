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
        // Histories are short and reads are mostly of the latest revision: scan from the end.
        var i = _count - 1;
        while (i >= 0 && _revs[i].ModRevision > revision)
        {
            i--;
        }
        return i;
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
        for (var i = _count - 1; i >= 0; i--)
        {
            var r = _revs[i];
            if (ReferenceEquals(r, kv))
            {
                return i;
            }
            if (r.ModRevision < kv.ModRevision)
            {
                break;
            }
        }
        return -1;
    }
}
