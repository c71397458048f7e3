using System.Buffers.Binary;

namespace Conclave.Server.Transport;

/// <summary>What a connection carries after the handshake. Part of the wire format.</summary>
internal enum ConnectionPurpose : byte
{
    /// <summary>A stream of <see cref="FrameKind.Message"/> frames from the dialling member; nothing flows back.</summary>
    Messages = 1,

    /// <summary>One large transfer: <see cref="FrameKind.Chunk"/> frames, a <see cref="FrameKind.ChunkEnd"/>, then one <see cref="FrameKind.TransferAck"/> back.</summary>
    Transfer = 2,
}

/// <summary>The answer to a hello. Part of the wire format.</summary>
internal enum HandshakeStatus : byte
{
    Accepted = 0,
    UnsupportedVersion = 1,
    ClusterMismatch = 2,

    /// <summary>The hello was addressed to another member id than the one that answered (a wrong address in the configuration).</summary>
    WrongMember = 3,
    UnknownPurpose = 4,
}

/// <summary>
/// The first frame on every connection, sent by the side that dials. Its first six bytes (magic and
/// version) keep their meaning in every protocol version, so any version can refuse any other clearly.
/// <code>
///   u32 LE magic 0x4C434E43 ("CNCL")   u16 LE version   u8 purpose
///   u64 LE cluster id   u64 LE sender member id   u64 LE target member id
/// </code>
/// </summary>
internal readonly record struct Hello(ushort Version, ConnectionPurpose Purpose, ulong ClusterId, ulong SenderId, ulong TargetId)
{
    public const uint Magic = 0x4C434E43;
    public const int Size = 4 + 2 + 1 + 8 + 8 + 8;

    /// <summary>Hello frames are tiny; this bound applies before the peer is known, whatever the configured maximum.</summary>
    public const int MaxFrameLength = 256;

    public byte[] Encode()
    {
        Span<byte> p = stackalloc byte[Size];
        BinaryPrimitives.WriteUInt32LittleEndian(p, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(p[4..], Version);
        p[6] = (byte)Purpose;
        BinaryPrimitives.WriteUInt64LittleEndian(p[7..], ClusterId);
        BinaryPrimitives.WriteUInt64LittleEndian(p[15..], SenderId);
        BinaryPrimitives.WriteUInt64LittleEndian(p[23..], TargetId);
        return Frame.Encode(FrameKind.Hello, p);
    }

    /// <summary>
    /// Reads a hello payload. Returns false for anything that is not a Conclave hello (wrong magic or too short).
    /// With an unknown version only <see cref="Version"/> is meaningful.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> payload, out Hello hello)
    {
        hello = default;
        if (payload.Length < 6 || BinaryPrimitives.ReadUInt32LittleEndian(payload) != Magic)
        {
            return false;
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(payload[4..]);
        if (version != TcpPeerTransport.ProtocolVersion || payload.Length < Size)
        {
            hello = new Hello(version, 0, 0, 0, 0);
            return true;
        }

        hello = new Hello(
            version,
            (ConnectionPurpose)payload[6],
            BinaryPrimitives.ReadUInt64LittleEndian(payload[7..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[15..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[23..]));
        return true;
    }
}

/// <summary>
/// The answer of the side that accepted: <c>u8 status, u16 LE version, u64 LE cluster id, u64 LE member id</c>
/// (its own values, so a refusal can say what it expected).
/// </summary>
internal readonly record struct HelloReply(HandshakeStatus Status, ushort Version, ulong ClusterId, ulong MemberId)
{
    public const int Size = 1 + 2 + 8 + 8;

    public byte[] Encode()
    {
        Span<byte> p = stackalloc byte[Size];
        p[0] = (byte)Status;
        BinaryPrimitives.WriteUInt16LittleEndian(p[1..], Version);
        BinaryPrimitives.WriteUInt64LittleEndian(p[3..], ClusterId);
        BinaryPrimitives.WriteUInt64LittleEndian(p[11..], MemberId);
        return Frame.Encode(FrameKind.HelloReply, p);
    }

    public static bool TryDecode(ReadOnlySpan<byte> payload, out HelloReply reply)
    {
        reply = default;
        if (payload.Length < Size)
        {
            return false;
        }

        reply = new HelloReply(
            (HandshakeStatus)payload[0],
            BinaryPrimitives.ReadUInt16LittleEndian(payload[1..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[3..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[11..]));
        return true;
    }
}
