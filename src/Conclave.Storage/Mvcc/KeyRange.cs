namespace Conclave.Storage.Mvcc;

/// <summary>
/// etcd's key range conventions. Keys compare as unsigned bytes, shorter prefix first.
/// A range is (key, rangeEnd):
/// <list type="bullet">
/// <item>rangeEnd empty: the single key <c>key</c>;</item>
/// <item>rangeEnd = "\0" (one zero byte): every key ≥ key; so key "\0" with rangeEnd "\0" is every key;</item>
/// <item>otherwise the half-open interval [key, rangeEnd); empty when rangeEnd ≤ key.</item>
/// </list>
/// </summary>
public static class KeyRange
{
    /// <summary>The rangeEnd meaning "no upper bound".</summary>
    public static ReadOnlyMemory<byte> NoEnd { get; } = new byte[] { 0 };

    public static int Compare(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => a.SequenceCompareTo(b);

    /// <summary>
    /// The rangeEnd that selects every key starting with <paramref name="prefix"/>: the prefix with its
    /// last byte below 0xff incremented and the bytes after it dropped. A prefix of only 0xff bytes
    /// (or an empty one) has no such end and gets "\0", i.e. every key ≥ prefix.
    /// </summary>
    public static byte[] PrefixEnd(ReadOnlySpan<byte> prefix)
    {
        for (var i = prefix.Length - 1; i >= 0; i--)
        {
            if (prefix[i] < 0xff)
            {
                var end = prefix[..(i + 1)].ToArray();
                end[i]++;
                return end;
            }
        }
        return [0];
    }

    internal static bool IsUnbounded(ReadOnlySpan<byte> rangeEnd) => rangeEnd.Length == 1 && rangeEnd[0] == 0;

    /// <summary>True when <paramref name="k"/> lies in the range (key, rangeEnd) as described above.</summary>
    public static bool Contains(ReadOnlySpan<byte> key, ReadOnlySpan<byte> rangeEnd, ReadOnlySpan<byte> k)
    {
        if (rangeEnd.IsEmpty)
        {
            return k.SequenceEqual(key);
        }
        if (k.SequenceCompareTo(key) < 0)
        {
            return false;
        }
        return IsUnbounded(rangeEnd) || k.SequenceCompareTo(rangeEnd) < 0;
    }

    /// <summary>True when <paramref name="k"/> is past the end of a multi-key range (stop iterating).</summary>
    internal static bool IsPastEnd(ReadOnlySpan<byte> rangeEnd, ReadOnlySpan<byte> k) =>
        !IsUnbounded(rangeEnd) && k.SequenceCompareTo(rangeEnd) >= 0;
}
