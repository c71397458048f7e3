using System.Text;
using Google.Protobuf;

namespace Conclave.Bench;

/// <summary>
/// The keys a workload writes: <c>prefix + index</c> with the index zero-padded so that every
/// key is exactly <see cref="KeySize"/> bytes, and index in [0, <see cref="Size"/>).
/// Keys sort in index order, so <c>prefix</c> with its prefix end covers the whole key space.
/// </summary>
public sealed class KeySpace
{
    private readonly string _prefix;
    private readonly byte[] _prefixBytes;
    private readonly int _digits;

    public KeySpace(string prefix, int keySize, long size, bool sequential)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var prefixBytes = Encoding.UTF8.GetByteCount(prefix);
        var digitsNeeded = (size - 1).ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        if (keySize < prefixBytes + digitsNeeded)
        {
            throw new ArgumentException(
                $"key size {keySize} is too small for prefix '{prefix}' ({prefixBytes} bytes) and {size} keys ({digitsNeeded} digits)");
        }
        _prefix = prefix;
        _prefixBytes = Encoding.UTF8.GetBytes(prefix);
        _digits = keySize - prefixBytes;
        KeySize = keySize;
        Size = size;
        Sequential = sequential;
    }

    public int KeySize { get; }

    public long Size { get; }

    /// <summary>True: operation n uses key n mod size; false: a uniformly random key.</summary>
    public bool Sequential { get; }

    public ByteString Prefix => ByteString.CopyFromUtf8(_prefix);

    /// <summary>The key index for operation number <paramref name="operation"/>.</summary>
    public long IndexFor(long operation, Random random) =>
        Sequential ? operation % Size : random.NextInt64(Size);

    /// <summary>The key of <paramref name="index"/> (in [0, <see cref="Size"/>)): the prefix, then the index in decimal zero-padded to fill <see cref="KeySize"/> bytes.</summary>
    public ByteString Key(long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        // Written straight into the key's one array (no strings): the load generator's own work per
        // operation is kept small so the CPU it shares with the members goes to them.
        var bytes = new byte[KeySize];
        _prefixBytes.CopyTo(bytes, 0);
        var at = bytes.Length;
        var rest = index;
        do
        {
            bytes[--at] = (byte)('0' + (int)(rest % 10));
            rest /= 10;
        }
        while (rest > 0 && at > _prefixBytes.Length);
        if (rest > 0)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"key index needs more than {_digits} digits");
        }
        bytes.AsSpan(_prefixBytes.Length, at - _prefixBytes.Length).Fill((byte)'0');
        return UnsafeByteOperations.UnsafeWrap(bytes);
    }

    /// <summary>
    /// The range end that makes a Range or Watch cover every key starting with
    /// <paramref name="prefix"/> (etcd's prefix end: the last byte below 0xff incremented, the
    /// rest dropped; "\0" — every key — when all bytes are 0xff or the prefix is empty).
    /// </summary>
    public static ByteString PrefixEnd(ByteString prefix)
    {
        var bytes = prefix.ToByteArray();
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] < 0xff)
            {
                bytes[i]++;
                return ByteString.CopyFrom(bytes, 0, i + 1);
            }
        }
        return ByteString.CopyFrom(0);
    }
}
