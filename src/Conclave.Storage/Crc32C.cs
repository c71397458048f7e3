using System.Buffers.Binary;
using System.Numerics;

namespace Conclave.Storage;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of every WAL record, snapshot file, MVCC snapshot and
/// state-machine snapshot header, and the MVCC store hash. Uses the
/// hardware instruction through <see cref="BitOperations.Crc32C(uint, ulong)"/>, eight bytes
/// at a time. <see cref="Append"/> continues a running checksum so a value can be computed over
/// several pieces; <c>Append(Append(0, a), b) == Compute(a ++ b)</c>.
/// </summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Continues <paramref name="crc"/> (a finished checksum, 0 for none) over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var state = ~crc;
        while (data.Length >= 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            state = BitOperations.Crc32C(state, b);
        }

        return ~state;
    }
}
