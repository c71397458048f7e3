using System.Buffers.Binary;
using System.Numerics;

namespace Conclave.Server.Transport;

/// <summary>
/// CRC-32C (Castagnoli), as used by iSCSI and the WAL: initial value and final xor 0xFFFFFFFF.
/// <see cref="BitOperations.Crc32C(uint, ulong)"/> uses the CPU instruction where there is one.
/// </summary>
internal static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Start, data));

    public const uint Start = 0xFFFFFFFFu;

    public static uint Finish(uint crc) => crc ^ 0xFFFFFFFFu;

    /// <summary>Continues a running (not yet finished) CRC over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }
}
