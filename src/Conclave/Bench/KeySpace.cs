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

    public ByteString Key(long index) =>
        ByteString.CopyFromUtf8(_prefix + index.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(_digits, '0'));

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
