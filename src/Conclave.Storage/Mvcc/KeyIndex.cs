namespace Conclave.Storage.Mvcc;

/// <summary>
/// The ordered set of keys, each with its <see cref="KeyHistory"/>: a two-level sorted structure
/// (a sorted list of leaves, each a sorted array of up to <see cref="LeafCapacity"/> entries), which
/// gives O(log n) lookup and insert with small memory moves, and in-order iteration from any key.
/// Not thread-safe: the store guards it with its reader/writer lock.
/// </summary>
internal sealed class KeyIndex
{
    internal const int LeafCapacity = 512;

    private readonly List<Leaf> _leaves = [new Leaf()];

    // Point lookups go through a hash table: the ordered structure costs a cache miss per comparison.
    private readonly Dictionary<byte[], KeyHistory> _byKey = new(ByteArrayComparer.Instance);
    private readonly Dictionary<byte[], KeyHistory>.AlternateLookup<ReadOnlySpan<byte>> _bySpan;

    public KeyIndex()
    {
        _bySpan = _byKey.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

    public int Count => _byKey.Count;

    public KeyHistory? Get(ReadOnlySpan<byte> key) => _bySpan.TryGetValue(key, out var h) ? h : null;

    /// <summary>The history for <paramref name="key"/>, created (with a copy of the key) when missing.</summary>
    public KeyHistory GetOrAdd(ReadOnlySpan<byte> key, out bool added)
    {
        if (_bySpan.TryGetValue(key, out var existing))
        {
            added = false;
            return existing;
        }
        var li = FindLeaf(key);
        var leaf = _leaves[li];
        var i = leaf.Search(key);
        if (i >= 0)
        {
            added = false;
            return leaf.Items[i];
        }
        var h = new KeyHistory(key.ToArray());
        i = ~i;
        if (leaf.Count == LeafCapacity)
        {
            var right = leaf.SplitUpper();
            _leaves.Insert(li + 1, right);
            if (i > leaf.Count)
            {
                i -= leaf.Count;
                leaf = right;
            }
        }
        leaf.InsertAt(i, h);
        _byKey.Add(h.Key, h);
        added = true;
        return h;
    }

    public void Remove(KeyHistory h)
    {
        var li = FindLeaf(h.Key);
        var leaf = _leaves[li];
        var i = leaf.Search(h.Key);
        if (i < 0 || !ReferenceEquals(leaf.Items[i], h))
        {
            throw new InvalidOperationException("key index: removing a key that is not in the index");
        }
        leaf.RemoveAt(i);
        _byKey.Remove(h.Key);
        if (leaf.Count == 0 && _leaves.Count > 1)
        {
            _leaves.RemoveAt(li);
        }
    }

    /// <summary>Position of the first key ≥ <paramref name="key"/> (or after <paramref name="key"/> when <paramref name="exclusive"/>).</summary>
    public Cursor Seek(ReadOnlySpan<byte> key, bool exclusive = false)
    {
        var li = FindLeaf(key);
        var i = _leaves[li].Search(key);
        if (i >= 0)
        {
            if (exclusive)
            {
                i++;
            }
        }
        else
        {
            i = ~i;
        }
        var c = new Cursor(this, li, i);
        c.Normalize();
        return c;
    }

    public Cursor First()
    {
        var c = new Cursor(this, 0, 0);
        c.Normalize();
        return c;
    }

    // Index of the last leaf whose first key ≤ key (0 when key is below every leaf).
    private int FindLeaf(ReadOnlySpan<byte> key)
    {
        int lo = 1, hi = _leaves.Count - 1, found = 0;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_leaves[mid].Items[0].Key.AsSpan().SequenceCompareTo(key) <= 0)
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

    /// <summary>A position in the index; invalid once the index is modified (re-seek by key).</summary>
    public struct Cursor
    {
        private readonly KeyIndex _index;
        private int _leaf;
        private int _pos;

        internal Cursor(KeyIndex index, int leaf, int pos)
        {
            _index = index;
            _leaf = leaf;
            _pos = pos;
        }

        public readonly bool Valid => _leaf < _index._leaves.Count;

        public readonly KeyHistory Current => _index._leaves[_leaf].Items[_pos];

        public void MoveNext()
        {
            _pos++;
            Normalize();
        }

        internal void Normalize()
        {
            while (_leaf < _index._leaves.Count && _pos >= _index._leaves[_leaf].Count)
            {
                _leaf++;
                _pos = 0;
            }
        }
    }

    private sealed class Leaf
    {
        public KeyHistory[] Items = new KeyHistory[16];
        public int Count;

        public int Search(ReadOnlySpan<byte> key)
        {
            int lo = 0, hi = Count - 1;
            while (lo <= hi)
            {
                var mid = (lo + hi) >>> 1;
                var c = Items[mid].Key.AsSpan().SequenceCompareTo(key);
                if (c == 0)
                {
                    return mid;
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
            return ~lo;
        }

        public void InsertAt(int i, KeyHistory h)
        {
            if (Count == Items.Length)
            {
                Array.Resize(ref Items, Math.Min(LeafCapacity, Items.Length * 2));
            }
            Array.Copy(Items, i, Items, i + 1, Count - i);
            Items[i] = h;
            Count++;
        }

        public void RemoveAt(int i)
        {
            Array.Copy(Items, i + 1, Items, i, Count - i - 1);
            Count--;
            Items[Count] = null!;
        }

        public Leaf SplitUpper()
        {
            var half = Count / 2;
            var right = new Leaf { Items = new KeyHistory[LeafCapacity], Count = Count - half };
            Array.Copy(Items, half, right.Items, 0, Count - half);
            Array.Clear(Items, half, Count - half);
            Count = half;
            return right;
        }
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static ByteArrayComparer Instance { get; } = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode(obj.AsSpan());

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hc = new HashCode();
            hc.AddBytes(alternate);
            return hc.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
