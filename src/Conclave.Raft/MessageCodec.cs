namespace Conclave.Raft;

/// <summary>
/// The versioned binary encoding of <see cref="Message"/> for the peer transport. One frame is one
/// message (the transport adds its own length prefix). Layout (version 1), integers as LEB128 varints:
/// <code>
/// version=1 | type u8 | flags u8 (bit0 reject, bit1 has snapshot) | to | from | term | logTerm | index
/// | commit | rejectHint | context (len, bytes) | entry count | entries | [snapshot]
/// entry    = term | index | type u8 | data (len, bytes)
/// snapshot = index | term | voters | learners | votersOutgoing | learnersNext (each: count, ids) | autoLeave u8 | data (len, bytes)
/// </code>
/// A decoder for version 1 rejects unknown flag bits, trailing bytes and overlong varints, so a frame that
/// decodes re-encodes to exactly its own bytes.
/// </summary>
public static class MessageCodec
{
    public const byte Version = 1;
    private const byte FlagReject = 1;
    private const byte FlagSnapshot = 2;

    /// <summary>Encodes <paramref name="m"/> into an array of exactly its size.</summary>
    public static byte[] Encode(Message m) => Encode(m, 0);

    /// <summary>
    /// Encodes <paramref name="m"/> after <paramref name="headroom"/> bytes left for the caller (a
    /// transport's frame kind, say), into one array of exactly headroom + the encoded size: no
    /// growing buffer and no copy.
    /// </summary>
    public static byte[] Encode(Message m, int headroom)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentOutOfRangeException.ThrowIfNegative(headroom);
        var size = headroom + EncodedSize(m);
        var w = new Writer(size, headroom);
        w.Byte(Version);
        w.Byte((byte)m.Type);
        var hasSnapshot = m.Snapshot is not null;
        w.Byte((byte)((m.Reject ? FlagReject : 0) | (hasSnapshot ? FlagSnapshot : 0)));
        w.Varint(m.To);
        w.Varint(m.From);
        w.Varint(m.Term);
        w.Varint(m.LogTerm);
        w.Varint(m.Index);
        w.Varint(m.Commit);
        w.Varint(m.RejectHint);
        w.Bytes(m.Context.Span);
        w.Varint((ulong)m.Entries.Count);
        foreach (var e in m.Entries)
        {
            w.Varint(e.Term);
            w.Varint(e.Index);
            w.Byte((byte)e.Type);
            w.Bytes(e.Data.Span);
        }

        if (m.Snapshot is { } s)
        {
            w.Varint(s.Metadata.Index);
            w.Varint(s.Metadata.Term);
            var cs = s.Metadata.ConfState;
            w.Ids(cs.Voters);
            w.Ids(cs.Learners);
            w.Ids(cs.VotersOutgoing);
            w.Ids(cs.LearnersNext);
            w.Byte(cs.AutoLeave ? (byte)1 : (byte)0);
            w.Bytes(s.Data.Span);
        }

        return w.Finish(size);
    }

    /// <summary>The exact length of <see cref="Encode(Message)"/>'s result.</summary>
    public static int EncodedSize(Message m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var n = 3 + VarintSize(m.To) + VarintSize(m.From) + VarintSize(m.Term) + VarintSize(m.LogTerm)
            + VarintSize(m.Index) + VarintSize(m.Commit) + VarintSize(m.RejectHint)
            + BytesSize(m.Context.Length) + VarintSize((ulong)m.Entries.Count);
        foreach (var e in m.Entries)
        {
            n += VarintSize(e.Term) + VarintSize(e.Index) + 1 + BytesSize(e.Data.Length);
        }
        if (m.Snapshot is { } s)
        {
            var cs = s.Metadata.ConfState;
            n += VarintSize(s.Metadata.Index) + VarintSize(s.Metadata.Term)
                + IdsSize(cs.Voters) + IdsSize(cs.Learners) + IdsSize(cs.VotersOutgoing) + IdsSize(cs.LearnersNext)
                + 1 + BytesSize(s.Data.Length);
        }
        return n;
    }

    private static int VarintSize(ulong v)
    {
        var n = 1;
        while (v >= 0x80)
        {
            v >>= 7;
            n++;
        }
        return n;
    }

    private static int BytesSize(int length) => VarintSize((ulong)length) + length;

    private static int IdsSize(IReadOnlyList<ulong> ids)
    {
        var n = VarintSize((ulong)ids.Count);
        foreach (var id in ids)
        {
            n += VarintSize(id);
        }
        return n;
    }

    /// <summary>Decodes one frame. Never throws: malformed, truncated or unknown input gives false and an error.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> frame, out Message? m, out string? error)
    {
        m = null;
        var r = new Reader(frame);
        if (!r.Byte(out var version))
        {
            error = "raft codec: empty frame";
            return false;
        }

        if (version != Version)
        {
            error = $"raft codec: unsupported version {version}";
            return false;
        }

        if (!r.Byte(out var type) || !r.Byte(out var flags))
        {
            error = "raft codec: truncated header";
            return false;
        }

        if (type > (byte)MessageType.ReadIndexResponse)
        {
            error = $"raft codec: unknown message type {type}";
            return false;
        }

        if ((flags & ~(FlagReject | FlagSnapshot)) != 0)
        {
            error = $"raft codec: unknown flags 0x{flags:x2}";
            return false;
        }

        if (!r.Varint(out var to) || !r.Varint(out var from) || !r.Varint(out var term) || !r.Varint(out var logTerm)
            || !r.Varint(out var index) || !r.Varint(out var commit) || !r.Varint(out var rejectHint) || !r.Bytes(out var context))
        {
            error = "raft codec: truncated message fields";
            return false;
        }

        if (!r.Varint(out var count) || count > (ulong)r.Remaining)
        {
            error = "raft codec: bad entry count";
            return false;
        }

        var entries = new Entry[count];
        for (var i = 0; i < entries.Length; i++)
        {
            if (!r.Varint(out var eTerm) || !r.Varint(out var eIndex) || !r.Byte(out var eType) || !r.Bytes(out var data))
            {
                error = $"raft codec: truncated entry {i}";
                return false;
            }

            if (eType > (byte)EntryType.ConfChange)
            {
                error = $"raft codec: unknown entry type {eType}";
                return false;
            }

            entries[i] = new Entry(eTerm, eIndex, (EntryType)eType, data);
        }

        Snapshot? snapshot = null;
        if ((flags & FlagSnapshot) != 0)
        {
            if (!r.Varint(out var sIndex) || !r.Varint(out var sTerm) || !r.Ids(out var voters) || !r.Ids(out var learners)
                || !r.Ids(out var outgoing) || !r.Ids(out var learnersNext) || !r.Byte(out var autoLeave) || autoLeave > 1
                || !r.Bytes(out var sData))
            {
                error = "raft codec: malformed snapshot";
                return false;
            }

            var cs = new ConfState { Voters = voters, Learners = learners, VotersOutgoing = outgoing, LearnersNext = learnersNext, AutoLeave = autoLeave == 1 };
            snapshot = new Snapshot(new SnapshotMetadata(sIndex, sTerm, cs), sData);
        }

        if (r.Remaining != 0)
        {
            error = $"raft codec: {r.Remaining} trailing bytes";
            return false;
        }

        m = new Message
        {
            Type = (MessageType)type,
            To = to,
            From = from,
            Term = term,
            LogTerm = logTerm,
            Index = index,
            Commit = commit,
            RejectHint = rejectHint,
            Reject = (flags & FlagReject) != 0,
            Context = context,
            Entries = entries,
            Snapshot = snapshot,
        };
        error = null;
        return true;
    }

    private sealed class Writer(int capacity, int start)
    {
        private byte[] _buf = new byte[capacity];
        private int _len = start;

        private void Ensure(int n)
        {
            if (_len + n > _buf.Length)
            {
                Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
            }
        }

        public void Byte(byte b)
        {
            Ensure(1);
            _buf[_len++] = b;
        }

        public void Varint(ulong v)
        {
            Ensure(VarintSize(v));
            while (v >= 0x80)
            {
                _buf[_len++] = (byte)(v | 0x80);
                v >>= 7;
            }

            _buf[_len++] = (byte)v;
        }

        public void Bytes(ReadOnlySpan<byte> data)
        {
            Varint((ulong)data.Length);
            Ensure(data.Length);
            data.CopyTo(_buf.AsSpan(_len));
            _len += data.Length;
        }

        public void Ids(IReadOnlyList<ulong> ids)
        {
            Varint((ulong)ids.Count);
            foreach (var id in ids)
            {
                Varint(id);
            }
        }

        /// <summary>The buffer, which the encoding must have filled exactly (<see cref="EncodedSize"/> agrees with the writer).</summary>
        public byte[] Finish(int expected)
        {
            if (_len != expected || _buf.Length != expected)
            {
                throw new InvalidOperationException($"raft codec: encoded {_len} bytes into a buffer of {_buf.Length}, expected {expected} (EncodedSize disagrees with Encode)");
            }
            return _buf;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public readonly int Remaining => _data.Length - _pos;

        public bool Byte(out byte b)
        {
            b = 0;
            if (_pos >= _data.Length)
            {
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
                if (shift == 63 && b > 1)
                {
                    return false; // overflows 64 bits
                }

                v |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                {
                    // Canonical only: a redundant trailing zero group would give a second spelling of the same value.
                    return b != 0 || shift == 0;
                }
            }

            return false;
        }

        public bool Bytes(out byte[] bytes)
        {
            bytes = [];
            if (!Varint(out var len) || len > (ulong)Remaining)
            {
                return false;
            }

            bytes = _data.Slice(_pos, (int)len).ToArray();
            _pos += (int)len;
            return true;
        }

        public bool Ids(out ulong[] ids)
        {
            ids = [];
            if (!Varint(out var count) || count > (ulong)Remaining)
            {
                return false;
            }

            ids = new ulong[count];
            for (var i = 0; i < ids.Length; i++)
            {
                if (!Varint(out ids[i]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
