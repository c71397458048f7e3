using System.Buffers.Binary;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// Byte-level mutations of a valid input, drawn from a seeded <see cref="Random"/>: bit flips,
/// interesting byte values, small arithmetic, byte insertion and deletion, truncation, duplicated
/// chunks (a repeated field or record), garbage appended, overlong varints, huge declared lengths
/// (as a varint and as little-endian u32/u64), and splices with another corpus input. Each call
/// applies one to a few of them (occasionally up to eight), so most outputs stay close to valid
/// and reach the deeper checks of a decoder.
/// </summary>
internal static class Mutator
{
    private static readonly byte[] Interesting = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x40, 0x20];

    public static byte[] Mutate(Random rng, ReadOnlySpan<byte> input, IReadOnlyList<byte[]>? corpus = null)
    {
        var b = new List<byte>(input.ToArray());
        var count = rng.Next(8) == 0 ? 1 + rng.Next(8) : 1 + rng.Next(2);
        for (var k = 0; k < count; k++)
        {
            MutateOnce(rng, b, corpus);
        }

        return [.. b];
    }

    private static void MutateOnce(Random rng, List<byte> b, IReadOnlyList<byte[]>? corpus)
    {
        var at = b.Count == 0 ? 0 : rng.Next(b.Count);
        switch (rng.Next(13))
        {
            case 0 when b.Count > 0:
                b[at] ^= (byte)(1 << rng.Next(8));
                break;
            case 1 when b.Count > 0:
                b[at] = Interesting[rng.Next(Interesting.Length)];
                break;
            case 2 when b.Count > 0:
                b[at] = (byte)rng.Next(256);
                break;
            case 3 when b.Count > 0:
                b[at] = (byte)(b[at] + rng.Next(-4, 5));
                break;
            case 4:
                b.InsertRange(at, RandomBytes(rng, 1 + rng.Next(16)));
                break;
            case 5 when b.Count > 0:
                b.RemoveRange(at, Math.Min(b.Count - at, 1 + rng.Next(16)));
                break;
            case 6:
                b.RemoveRange(at, b.Count - at);
                break;
            case 7 when b.Count > 0:
                {
                    var len = Math.Min(b.Count - at, 1 + rng.Next(32));
                    var chunk = b.GetRange(at, len);
                    b.InsertRange(rng.Next(b.Count + 1), chunk);
                    break;
                }

            case 8:
                b.AddRange(RandomBytes(rng, 1 + rng.Next(64)));
                break;
            case 9:
                // An overlong varint: ten or eleven continuation bytes (past 64 bits), or a redundant zero group.
                b.InsertRange(at, rng.Next(2) == 0 ? [.. Enumerable.Repeat((byte)0xFF, 10 + rng.Next(2)), 0x01] : [0x80, 0x00]);
                break;
            case 10:
                InsertHugeLength(rng, b, at);
                break;
            case 11 when corpus is { Count: > 0 }:
                {
                    var other = corpus[rng.Next(corpus.Count)];
                    var from = rng.Next(other.Length + 1);
                    var len = rng.Next(other.Length - from + 1);
                    b.RemoveRange(at, b.Count - at);
                    b.AddRange(other.AsSpan(from, len).ToArray());
                    break;
                }

            default:
                if (b.Count > 0)
                {
                    b[at] ^= 0xFF;
                }

                break;
        }
    }

    /// <summary>Overwrites (or inserts) a declared length far beyond the input: varint 2^32-1 or 2^63, u32 0xFFFFFFFF, u32 0x7FFFFFFF, u64 max.</summary>
    private static void InsertHugeLength(Random rng, List<byte> b, int at)
    {
        byte[] huge;
        switch (rng.Next(5))
        {
            case 0:
                huge = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
                break;
            case 1:
                huge = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
                break;
            case 2:
                huge = new byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(huge, uint.MaxValue);
                break;
            case 3:
                huge = new byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(huge, int.MaxValue);
                break;
            default:
                huge = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(huge, ulong.MaxValue);
                break;
        }

        if (rng.Next(2) == 0)
        {
            b.InsertRange(at, huge);
        }
        else
        {
            b.RemoveRange(at, Math.Min(huge.Length, b.Count - at));
            b.InsertRange(at, huge);
        }
    }

    public static byte[] RandomBytes(Random rng, int n)
    {
        var bytes = new byte[n];
        rng.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Mostly small numbers, sometimes large ones, so varints of every length appear.</summary>
    public static ulong Number(Random rng) => rng.Next(4) switch
    {
        0 => 0,
        1 => (ulong)rng.Next(16),
        2 => (ulong)rng.NextInt64(),
        _ => ulong.MaxValue - (ulong)rng.Next(3),
    };
}
