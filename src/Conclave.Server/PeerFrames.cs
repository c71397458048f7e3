using System.Buffers.Binary;
using Conclave.Raft;

namespace Conclave.Server;

/// <summary>
/// What the member puts in a transport frame: one kind byte, then the body. Raft messages are
/// <see cref="MessageCodec"/> bytes; the others are small fixed-layout requests between members
/// that are not part of the log (little-endian integers):
/// <code>
/// 1 Raft           message
/// 2 LeaseRequest   u64 request id | u8 op (1 keep-alive, 2 time-to-live) | i64 lease id
/// 3 LeaseResponse  u64 request id | u8 status (0 ok, 1 not found, 2 not leader) | i64 granted ttl | i64 remaining ttl
/// 4 HashRequest    u64 request id | i64 revision
/// 5 HashResponse   u64 request id | u8 status (0 ok, else failed) | u32 hash | i64 compact revision
/// 6 PromoteRequest  u64 request id | u64 learner id
/// 7 PromoteResponse u64 request id | u8 ServerStatus
/// 8 MemberChangeRequest  u64 request id | u8 op (1 add, 2 remove) | the Member as JSON (Member.Encode)
/// 9 MemberChangeResponse u64 request id | u8 ServerStatus
/// </code>
/// Snapshot transfers (the transport's transfer path) start with u32 length + the raft Snapshot
/// message (its data empty), followed by the snapshot file's bytes unchanged.
/// </summary>
internal static class PeerFrames
{
    public const byte Raft = 1;
    public const byte LeaseRequest = 2;
    public const byte LeaseResponse = 3;
    public const byte HashRequest = 4;
    public const byte HashResponse = 5;
    public const byte PromoteRequest = 6;
    public const byte PromoteResponse = 7;
    public const byte MemberChangeRequest = 8;
    public const byte MemberChangeResponse = 9;

    public const byte ChangeAdd = 1;
    public const byte ChangeRemove = 2;

    public const byte OpKeepAlive = 1;
    public const byte OpTimeToLive = 2;

    public const byte StatusOk = 0;
    public const byte StatusNotFound = 1;
    public const byte StatusNotLeader = 2;

    public static byte[] EncodeRaft(Message m)
    {
        var frame = MessageCodec.Encode(m, headroom: 1);
        frame[0] = Raft;
        return frame;
    }

    public static byte[] EncodeLeaseRequest(ulong requestId, byte op, long leaseId)
    {
        var f = new byte[1 + 8 + 1 + 8];
        f[0] = LeaseRequest;
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(1), requestId);
        f[9] = op;
        BinaryPrimitives.WriteInt64LittleEndian(f.AsSpan(10), leaseId);
        return f;
    }

    public static bool TryDecodeLeaseRequest(ReadOnlySpan<byte> f, out ulong requestId, out byte op, out long leaseId)
    {
        requestId = 0;
        op = 0;
        leaseId = 0;
        if (f.Length != 18)
        {
            return false;
        }
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(f[1..]);
        op = f[9];
        leaseId = BinaryPrimitives.ReadInt64LittleEndian(f[10..]);
        return true;
    }

    public static byte[] EncodeLeaseResponse(ulong requestId, byte status, long granted, long remaining)
    {
        var f = new byte[1 + 8 + 1 + 8 + 8];
        f[0] = LeaseResponse;
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(1), requestId);
        f[9] = status;
        BinaryPrimitives.WriteInt64LittleEndian(f.AsSpan(10), granted);
        BinaryPrimitives.WriteInt64LittleEndian(f.AsSpan(18), remaining);
        return f;
    }

    public static bool TryDecodeLeaseResponse(ReadOnlySpan<byte> f, out ulong requestId, out byte status, out long granted, out long remaining)
    {
        requestId = 0;
        status = 0;
        granted = 0;
        remaining = 0;
        if (f.Length != 26)
        {
            return false;
        }
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(f[1..]);
        status = f[9];
        granted = BinaryPrimitives.ReadInt64LittleEndian(f[10..]);
        remaining = BinaryPrimitives.ReadInt64LittleEndian(f[18..]);
        return true;
    }

    public static byte[] EncodeHashRequest(ulong requestId, long revision)
    {
        var f = new byte[1 + 8 + 8];
        f[0] = HashRequest;
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(1), requestId);
        BinaryPrimitives.WriteInt64LittleEndian(f.AsSpan(9), revision);
        return f;
    }

    public static bool TryDecodeHashRequest(ReadOnlySpan<byte> f, out ulong requestId, out long revision)
    {
        requestId = 0;
        revision = 0;
        if (f.Length != 17)
        {
            return false;
        }
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(f[1..]);
        revision = BinaryPrimitives.ReadInt64LittleEndian(f[9..]);
        return true;
    }

    public static byte[] EncodeHashResponse(ulong requestId, byte status, uint hash, long compactRevision)
    {
        var f = new byte[1 + 8 + 1 + 4 + 8];
        f[0] = HashResponse;
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(1), requestId);
        f[9] = status;
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(10), hash);
        BinaryPrimitives.WriteInt64LittleEndian(f.AsSpan(14), compactRevision);
        return f;
    }

    public static bool TryDecodeHashResponse(ReadOnlySpan<byte> f, out ulong requestId, out byte status, out uint hash, out long compactRevision)
    {
        requestId = 0;
        status = 0;
        hash = 0;
        compactRevision = 0;
        if (f.Length != 22)
        {
            return false;
        }
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(f[1..]);
        status = f[9];
        hash = BinaryPrimitives.ReadUInt32LittleEndian(f[10..]);
        compactRevision = BinaryPrimitives.ReadInt64LittleEndian(f[14..]);
        return true;
    }

    public static byte[] EncodePromoteRequest(ulong requestId, ulong learnerId)
    {
        var f = new byte[1 + 8 + 8];
        f[0] = PromoteRequest;
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(1), requestId);
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(9), learnerId);
        return f;
    }

    public static bool TryDecodePromoteRequest(ReadOnlySpan<byte> f, out ulong requestId, out ulong learnerId)
    {
        requestId = 0;
        learnerId = 0;
        if (f.Length != 17)
        {
            return false;
        }
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(f[1..]);
        learnerId = BinaryPrimitives.ReadUInt64LittleEndian(f[9..]);
        return true;
    }

    public static byte[] EncodePromoteResponse(ulong requestId, byte status)
    {
        var f = new byte[1 + 8 + 1];
        f[0] = PromoteResponse;
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(1), requestId);
        f[9] = status;
        return f;
    }

    public static bool TryDecodePromoteResponse(ReadOnlySpan<byte> f, out byte status)
    {
        status = 0;
        if (f.Length != 10)
        {
            return false;
        }
        status = f[9];
        return true;
    }

    public static byte[] EncodeMemberChangeRequest(ulong requestId, byte op, ReadOnlySpan<byte> member)
    {
        var f = new byte[1 + 8 + 1 + member.Length];
        f[0] = MemberChangeRequest;
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(1), requestId);
        f[9] = op;
        member.CopyTo(f.AsSpan(10));
        return f;
    }

    /// <summary>False for a short frame, an unknown op or a member that does not decode.</summary>
    public static bool TryDecodeMemberChangeRequest(ReadOnlySpan<byte> f, out ulong requestId, out byte op, out StateMachine.Member? member)
    {
        requestId = 0;
        op = 0;
        member = null;
        if (f.Length < 11 || f[9] is not (ChangeAdd or ChangeRemove))
        {
            return false;
        }
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(f[1..]);
        op = f[9];
        member = StateMachine.Member.TryDecode(f[10..]);
        return member is not null;
    }

    public static byte[] EncodeMemberChangeResponse(ulong requestId, byte status)
    {
        var f = EncodePromoteResponse(requestId, status);
        f[0] = MemberChangeResponse;
        return f;
    }

    public static bool TryDecodeMemberChangeResponse(ReadOnlySpan<byte> f, out byte status) => TryDecodePromoteResponse(f, out status);

    /// <summary>The request id of an encoded command without decoding it (format: version, kind, LEB128 request id); 0 when absent.</summary>
    public static ulong PeekRequestId(ReadOnlySpan<byte> command)
    {
        if (command.Length < 3)
        {
            return 0;
        }
        ulong v = 0;
        for (int i = 2, shift = 0; i < command.Length && shift < 64; i++, shift += 7)
        {
            var b = command[i];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return v;
            }
        }
        return 0;
    }
}
