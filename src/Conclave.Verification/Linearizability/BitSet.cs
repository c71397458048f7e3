namespace Conclave.Verification.Linearizability;

/// <summary>An immutable set of operation ids (0..capacity-1) with value equality, used as a memoization key.</summary>
internal readonly struct BitSet : IEquatable<BitSet>
{
    private readonly ulong[] _words;
    private readonly int _hash;

    public BitSet(int capacity)
        : this(new ulong[(capacity + 63) / 64])
    {
    }

    private BitSet(ulong[] words)
    {
        _words = words;
        var h = new HashCode();
        foreach (var w in words)
        {
            h.Add(w);
        }

        _hash = h.ToHashCode();
    }

    public bool Contains(int id) => (_words[id >> 6] & (1UL << (id & 63))) != 0;

    public BitSet With(int id)
    {
        var copy = (ulong[])_words.Clone();
        copy[id >> 6] |= 1UL << (id & 63);
        return new BitSet(copy);
    }

    public BitSet Without(int id)
    {
        var copy = (ulong[])_words.Clone();
        copy[id >> 6] &= ~(1UL << (id & 63));
        return new BitSet(copy);
    }

    public bool Equals(BitSet other) => _hash == other._hash && _words.AsSpan().SequenceEqual(other._words);

    public override bool Equals(object? obj) => obj is BitSet other && Equals(other);

    public override int GetHashCode() => _hash;

    public static bool operator ==(BitSet left, BitSet right) => left.Equals(right);

    public static bool operator !=(BitSet left, BitSet right) => !left.Equals(right);
}
