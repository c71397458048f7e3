using System.Buffers.Binary;
using Conclave.Storage;

namespace Conclave.Server.Transport;

/// <summary>
/// The frame layout shared by both connection purposes:
/// <code>
///   u32 LE  length   = 1 + payload length (the kind byte and the payload); 1 ≤ length ≤ max frame size
///   u32 LE  crc32c   of the kind byte followed by the payload
///   u8      kind     (FrameKind)
///   ...     payload  (length - 1 bytes)
/// </code>
/// </summary>
internal static class Frame
{
    public const int HeaderSize = 9;

    /// <summary>Writes the header for a frame of <paramref name="kind"/> carrying <paramref name="payload"/> into <paramref name="destination"/> (at least <see cref="HeaderSize"/> bytes).</summary>
    public static void WriteHeader(Span<byte> destination, FrameKind kind, ReadOnlySpan<byte> payload)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, checked((uint)(payload.Length + 1)));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Checksum(kind, payload));
        destination[8] = (byte)kind;
    }

    /// <summary>Header and payload in one new array (for small control frames).</summary>
    public static byte[] Encode(FrameKind kind, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[HeaderSize + payload.Length];
        WriteHeader(bytes, kind, payload);
        payload.CopyTo(bytes.AsSpan(HeaderSize));
        return bytes;
    }

    public static uint Checksum(FrameKind kind, ReadOnlySpan<byte> payload)
    {
        Span<byte> k = [(byte)kind];
        return Crc32C.Append(Crc32C.Compute(k), payload);
    }
}
