using System.Buffers;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.StateMachine;

/// <summary>
/// The versioned binary encoding of <see cref="Command"/> as it is stored in log entries.
/// <code>
///   byte   format version (1)
///   byte   kind (CommandKind)
///   varint request id
///   kind-specific fields: byte strings as varint length + bytes, int64 as zig-zag varints,
///   flags as one byte, ops of a txn as (byte op kind, fields), nested txns recursively.
/// </code>
/// Entries are stored forever in WALs and snapshots: never renumber a kind or change a field's
/// encoding; add a new kind or a new format version instead. <see cref="TryDecode"/> never throws
/// on malformed input, and accepts only the canonical spelling (so decode then encode is the identity).
/// </summary>
public static class CommandCodec
{
    public const byte FormatVersion = 1;

    /// <summary>Nested txns deeper than this are refused (etcd has no limit, but a decoder must not recurse without bound).</summary>
    public const int MaxTxnDepth = 32;

    private enum Kind : byte
    {
        Put = 1,
        DeleteRange = 2,
        Txn = 3,
        Compact = 4,
        LeaseGrant = 5,
        LeaseRevoke = 6,
        LeaseCheckpoint = 7,
        Alarm = 8,
        MemberAttributes = 9,
    }

    private enum OpKind : byte
    {
        Range = 1,
        Put = 2,
        DeleteRange = 3,
        Txn = 4,
    }

    /// <summary>Encoding buffers larger than this are not kept for the next <see cref="Encode"/> on the thread.</summary>
    private const int MaxRetainedWriterBytes = 64 * 1024;

    /// <summary>
    /// This thread's encoding buffer, reused by every <see cref="Encode"/> on it (which runs to completion
    /// without yielding), so an encode allocates only its result.
    /// </summary>
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _threadWriter;

    /// <summary>The encoding of <paramref name="command"/> in a new array of exactly its length, owned by the caller.</summary>
    public static byte[] Encode(Command command) => Encode(command, command.RequestId);

    /// <summary>As <see cref="Encode(Command)"/> with <paramref name="requestId"/> in place of the command's own (saves a copy of the command).</summary>
    public static byte[] Encode(Command command, ulong requestId)
    {
        var w = _threadWriter ?? new ArrayBufferWriter<byte>(512);
        _threadWriter = null;
        w.ResetWrittenCount();
        try
        {
            Write(w, command, requestId);
            return w.WrittenSpan.ToArray();
        }
        finally
        {
            if (w.Capacity <= MaxRetainedWriterBytes)
            {
                _threadWriter = w;
            }
        }
    }

    private static void Write(ArrayBufferWriter<byte> w, Command command, ulong requestId)
    {
        w.Write([FormatVersion]);
        switch (command)
        {
            case PutCommand c:
                Header(w, Kind.Put, requestId);
                WritePut(w, c.Request);
                break;
            case DeleteRangeCommand c:
                Header(w, Kind.DeleteRange, requestId);
                WriteDelete(w, c.Request);
                break;
            case TxnCommand c:
                Header(w, Kind.Txn, requestId);
                WriteTxn(w, c.Request);
                break;
            case CompactCommand c:
                Header(w, Kind.Compact, requestId);
                WriteSigned(w, c.Revision);
                break;
            case LeaseGrantCommand c:
                Header(w, Kind.LeaseGrant, requestId);
                WriteSigned(w, c.LeaseId);
                WriteSigned(w, c.TtlSeconds);
                break;
            case LeaseRevokeCommand c:
                Header(w, Kind.LeaseRevoke, requestId);
                WriteSigned(w, c.LeaseId);
                break;
            case LeaseCheckpointCommand c:
                Header(w, Kind.LeaseCheckpoint, requestId);
                WriteVarint(w, (ulong)c.Checkpoints.Count);
                foreach (var cp in c.Checkpoints)
                {
                    WriteSigned(w, cp.LeaseId);
                    WriteSigned(w, cp.RemainingTtlSeconds);
                }
                break;
            case AlarmCommand c:
                Header(w, Kind.Alarm, requestId);
                w.Write([(byte)c.Action]);
                WriteVarint(w, c.MemberId);
                w.Write([(byte)c.Alarm]);
                break;
            case MemberAttributesCommand c:
                Header(w, Kind.MemberAttributes, requestId);
                WriteVarint(w, c.MemberId);
                WriteBytes(w, System.Text.Encoding.UTF8.GetBytes(c.Name));
                WriteVarint(w, (ulong)c.ClientUrls.Count);
                foreach (var url in c.ClientUrls)
                {
                    WriteBytes(w, System.Text.Encoding.UTF8.GetBytes(url));
                }
                break;
            default:
                throw new ArgumentException($"unknown command type {command.GetType().Name}", nameof(command));
        }
    }

    public static bool TryDecode(ReadOnlySpan<byte> data, out Command? command, out string? error)
    {
        command = null;
        var r = new Reader(data);
        if (!r.Byte(out var version) || version != FormatVersion)
        {
            error = data.IsEmpty ? "command: empty entry" : $"command: unknown format version {version}";
            return false;
        }
        if (!r.Byte(out var kind) || !r.Varint(out var requestId))
        {
            error = "command: truncated header";
            return false;
        }
        command = (Kind)kind switch
        {
            Kind.Put => ReadPut(ref r) is { } p ? new PutCommand(p) { RequestId = requestId } : null,
            Kind.DeleteRange => ReadDelete(ref r) is { } d ? new DeleteRangeCommand(d) { RequestId = requestId } : null,
            Kind.Txn => ReadTxn(ref r, 0) is { } t ? new TxnCommand(t) { RequestId = requestId } : null,
            Kind.Compact => r.Signed(out var rev) ? new CompactCommand(rev) : null,
            Kind.LeaseGrant => r.Signed(out var id) && r.Signed(out var ttl) ? new LeaseGrantCommand(id, ttl) : null,
            Kind.LeaseRevoke => r.Signed(out var rid) ? new LeaseRevokeCommand(rid) : null,
            Kind.LeaseCheckpoint => ReadCheckpoints(ref r),
            Kind.Alarm => ReadAlarm(ref r),
            Kind.MemberAttributes => ReadMemberAttributes(ref r),
            _ => null,
        };
        if (command is null)
        {
            error = Enum.IsDefined((Kind)kind) ? $"command: malformed {(Kind)kind} at byte {r.Position}" : $"command: unknown kind {kind}";
            return false;
        }
        if (!r.AtEnd)
        {
            command = null;
            error = $"command: {data.Length - r.Position} trailing bytes after {(Kind)kind}";
            return false;
        }
        if (command.RequestId != requestId)
        {
            command = command with { RequestId = requestId };
        }
        error = null;
        return true;
    }

    private static void Header(ArrayBufferWriter<byte> w, Kind kind, ulong requestId)
    {
        w.Write([(byte)kind]);
        WriteVarint(w, requestId);
    }

    private static void WritePut(ArrayBufferWriter<byte> w, PutRequest p)
    {
        WriteBytes(w, p.Key.Span);
        WriteBytes(w, p.Value.Span);
        WriteSigned(w, p.Lease);
        w.Write([(byte)((p.PrevKv ? 1 : 0) | (p.IgnoreValue ? 2 : 0) | (p.IgnoreLease ? 4 : 0))]);
    }

    private static void WriteDelete(ArrayBufferWriter<byte> w, DeleteRangeRequest d)
    {
        WriteBytes(w, d.Key.Span);
        WriteBytes(w, d.RangeEnd.Span);
        w.Write([(byte)(d.PrevKv ? 1 : 0)]);
    }

    private static void WriteRange(ArrayBufferWriter<byte> w, RangeRequest q)
    {
        WriteBytes(w, q.Key.Span);
        WriteBytes(w, q.RangeEnd.Span);
        WriteSigned(w, q.Limit);
        WriteSigned(w, q.Revision);
        w.Write([(byte)q.SortOrder, (byte)q.SortTarget, (byte)((q.KeysOnly ? 1 : 0) | (q.CountOnly ? 2 : 0))]);
        WriteSigned(w, q.MinModRevision);
        WriteSigned(w, q.MaxModRevision);
        WriteSigned(w, q.MinCreateRevision);
        WriteSigned(w, q.MaxCreateRevision);
    }

    private static void WriteTxn(ArrayBufferWriter<byte> w, TxnRequest t)
    {
        WriteVarint(w, (ulong)t.Compare.Count);
        foreach (var c in t.Compare)
        {
            WriteBytes(w, c.Key.Span);
            WriteBytes(w, c.RangeEnd.Span);
            w.Write([(byte)c.Target, (byte)c.Result]);
            WriteSigned(w, c.Number);
            WriteBytes(w, c.Value.Span);
        }
        WriteOps(w, t.Success);
        WriteOps(w, t.Failure);
    }

    private static void WriteOps(ArrayBufferWriter<byte> w, IReadOnlyList<RequestOp> ops)
    {
        WriteVarint(w, (ulong)ops.Count);
        foreach (var op in ops)
        {
            switch (op)
            {
                case RangeOp o:
                    w.Write([(byte)OpKind.Range]);
                    WriteRange(w, o.Request);
                    break;
                case PutOp o:
                    w.Write([(byte)OpKind.Put]);
                    WritePut(w, o.Request);
                    break;
                case DeleteRangeOp o:
                    w.Write([(byte)OpKind.DeleteRange]);
                    WriteDelete(w, o.Request);
                    break;
                case TxnOp o:
                    w.Write([(byte)OpKind.Txn]);
                    WriteTxn(w, o.Request);
                    break;
                default:
                    throw new ArgumentException($"unknown txn op {op.GetType().Name}", nameof(ops));
            }
        }
    }

    private static PutRequest? ReadPut(ref Reader r) =>
        r.Bytes(out var key) && r.Bytes(out var value) && r.Signed(out var lease) && r.Byte(out var flags) && flags <= 7
            ? new PutRequest { Key = key, Value = value, Lease = lease, PrevKv = (flags & 1) != 0, IgnoreValue = (flags & 2) != 0, IgnoreLease = (flags & 4) != 0 }
            : null;

    private static DeleteRangeRequest? ReadDelete(ref Reader r) =>
        r.Bytes(out var key) && r.Bytes(out var end) && r.Byte(out var flags) && flags <= 1
            ? new DeleteRangeRequest { Key = key, RangeEnd = end, PrevKv = flags == 1 }
            : null;

    private static RangeRequest? ReadRange(ref Reader r)
    {
        if (!(r.Bytes(out var key) && r.Bytes(out var end) && r.Signed(out var limit) && r.Signed(out var rev)
              && r.Byte(out var order) && r.Byte(out var target) && r.Byte(out var flags)
              && r.Signed(out var minMod) && r.Signed(out var maxMod) && r.Signed(out var minCreate) && r.Signed(out var maxCreate)))
        {
            return null;
        }
        if (!Enum.IsDefined((SortOrder)order) || !Enum.IsDefined((SortTarget)target) || flags > 3)
        {
            return null;
        }
        return new RangeRequest
        {
            Key = key,
            RangeEnd = end,
            Limit = limit,
            Revision = rev,
            SortOrder = (SortOrder)order,
            SortTarget = (SortTarget)target,
            KeysOnly = (flags & 1) != 0,
            CountOnly = (flags & 2) != 0,
            MinModRevision = minMod,
            MaxModRevision = maxMod,
            MinCreateRevision = minCreate,
            MaxCreateRevision = maxCreate,
        };
    }

    private static TxnRequest? ReadTxn(ref Reader r, int depth)
    {
        if (depth > MaxTxnDepth || !r.Count(out var n))
        {
            return null;
        }
        var compares = new List<Compare>(n);
        for (var i = 0; i < n; i++)
        {
            if (!(r.Bytes(out var key) && r.Bytes(out var end) && r.Byte(out var target) && r.Byte(out var result)
                  && r.Signed(out var number) && r.Bytes(out var value))
                || !Enum.IsDefined((CompareTarget)target) || !Enum.IsDefined((CompareResult)result))
            {
                return null;
            }
            compares.Add(new Compare { Key = key, RangeEnd = end, Target = (CompareTarget)target, Result = (CompareResult)result, Number = number, Value = value });
        }
        var success = ReadOps(ref r, depth);
        var failure = success is null ? null : ReadOps(ref r, depth);
        return failure is null ? null : new TxnRequest { Compare = compares, Success = success!, Failure = failure };
    }

    private static List<RequestOp>? ReadOps(ref Reader r, int depth)
    {
        if (!r.Count(out var n))
        {
            return null;
        }
        var ops = new List<RequestOp>(n);
        for (var i = 0; i < n; i++)
        {
            if (!r.Byte(out var kind))
            {
                return null;
            }
            RequestOp? op = (OpKind)kind switch
            {
                OpKind.Range => ReadRange(ref r) is { } q ? RequestOp.Range(q) : null,
                OpKind.Put => ReadPut(ref r) is { } p ? RequestOp.Put(p) : null,
                OpKind.DeleteRange => ReadDelete(ref r) is { } d ? RequestOp.DeleteRange(d) : null,
                OpKind.Txn => ReadTxn(ref r, depth + 1) is { } t ? RequestOp.Txn(t) : null,
                _ => null,
            };
            if (op is null)
            {
                return null;
            }
            ops.Add(op);
        }
        return ops;
    }

    private static LeaseCheckpointCommand? ReadCheckpoints(ref Reader r)
    {
        if (!r.Count(out var n))
        {
            return null;
        }
        var list = new List<LeaseCheckpoint>(n);
        for (var i = 0; i < n; i++)
        {
            if (!r.Signed(out var id) || !r.Signed(out var remaining))
            {
                return null;
            }
            list.Add(new LeaseCheckpoint(id, remaining));
        }
        return new LeaseCheckpointCommand(list);
    }

    private static MemberAttributesCommand? ReadMemberAttributes(ref Reader r)
    {
        if (!r.Varint(out var member) || !r.Bytes(out var name) || !r.Count(out var n))
        {
            return null;
        }
        var urls = new List<string>(n);
        for (var i = 0; i < n; i++)
        {
            if (!r.Bytes(out var url))
            {
                return null;
            }
            if (!TryUtf8(url, out var text))
            {
                return null;
            }
            urls.Add(text);
        }
        return TryUtf8(name, out var nameText) ? new MemberAttributesCommand(member, nameText, urls) : null;
    }

    private static bool TryUtf8(byte[] bytes, out string text)
    {
        try
        {
            text = Utf8.GetString(bytes);
            return true;
        }
        catch (System.Text.DecoderFallbackException)
        {
            text = string.Empty;
            return false;
        }
    }

    /// <summary>Strict UTF-8: invalid bytes make the decode fail (and so keep decode-then-encode the identity).</summary>
    private static readonly System.Text.UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static AlarmCommand? ReadAlarm(ref Reader r) =>
        r.Byte(out var action) && r.Varint(out var member) && r.Byte(out var alarm)
        && Enum.IsDefined((AlarmAction)action) && Enum.IsDefined((AlarmType)alarm)
            ? new AlarmCommand((AlarmAction)action, member, (AlarmType)alarm)
            : null;

    private static void WriteVarint(ArrayBufferWriter<byte> w, ulong v)
    {
        var span = w.GetSpan(10);
        var i = 0;
        while (v >= 0x80)
        {
            span[i++] = (byte)(v | 0x80);
            v >>= 7;
        }
        span[i++] = (byte)v;
        w.Advance(i);
    }

    private static void WriteSigned(ArrayBufferWriter<byte> w, long v) => WriteVarint(w, (ulong)((v << 1) ^ (v >> 63)));

    private static void WriteBytes(ArrayBufferWriter<byte> w, ReadOnlySpan<byte> bytes)
    {
        WriteVarint(w, (ulong)bytes.Length);
        w.Write(bytes);
    }

    /// <summary>Bounds-checked reader: every method returns false instead of reading past the end.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public readonly int Position => _pos;

        public readonly bool AtEnd => _pos == _data.Length;

        public bool Byte(out byte b)
        {
            if (_pos >= _data.Length)
            {
                b = 0;
                return false;
            }
            b = _data[_pos++];
            return true;
        }

        public bool Varint(out ulong v)
        {
            v = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= _data.Length)
                {
                    return false;
                }
                var b = _data[_pos++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    // Canonical only: no redundant trailing zero group, no bits past 64.
                    return (b != 0 || shift == 0) && (shift < 63 || b <= 1);
                }
            }
            return false;
        }

        public bool Signed(out long v)
        {
            var ok = Varint(out var u);
            v = (long)(u >> 1) ^ -(long)(u & 1);
            return ok;
        }

        /// <summary>A count of items, each taking at least one byte: bounded by the bytes left, so a forged count cannot allocate.</summary>
        public bool Count(out int n)
        {
            n = 0;
            if (!Varint(out var v) || v > (ulong)(_data.Length - _pos))
            {
                return false;
            }
            n = (int)v;
            return true;
        }

        public bool Bytes(out byte[] bytes)
        {
            bytes = [];
            if (!Varint(out var len) || len > (ulong)(_data.Length - _pos))
            {
                return false;
            }
            bytes = _data.Slice(_pos, (int)len).ToArray();
            _pos += (int)len;
            return true;
        }
    }
}
