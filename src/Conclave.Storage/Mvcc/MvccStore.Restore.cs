using System.Buffers.Binary;

namespace Conclave.Storage.Mvcc;

public sealed partial class MvccStore
{
    /// <summary>
    /// Replaces the whole store with a snapshot written by <see cref="WriteSnapshot"/>, read from
    /// <paramref name="input"/> in one forward pass through a fixed buffer (the image is never held
    /// whole in memory: only the new state it describes is). The new state is built aside and swapped
    /// in only after the image's own checksum matched and <paramref name="input"/> reported its end
    /// (a read that returned 0), so a stream that checks a checksum of its own at its end (as
    /// <c>SnapshotStore.RestoreLatest</c>'s does) can still refuse the image. Reads
    /// <paramref name="input"/> to its end: the snapshot must be the last thing in it. Writer thread
    /// only. Readers in flight finish on the old state. A malformed or corrupt snapshot throws
    /// <see cref="InvalidDataException"/> (or whatever the stream throws) and leaves the store unchanged.
    /// </summary>
    public void Restore(Stream input)
    {
        ArgumentNullException.ThrowIfNull(input);
        EnsureNoWriter("restore");
        var r = new RestoreReader(input);
        Span<byte> magic = stackalloc byte[8];
        if (!r.TryReadExactly(magic) || !magic.SequenceEqual(Magic))
        {
            throw new InvalidDataException("mvcc snapshot: bad magic or too short");
        }
        var st = new StoreState();
        var log = new List<LogItem>();
        st.CurrentRevision = r.ReadInt64();
        st.CompactRevision = r.ReadInt64();
        KeyHistory? last = null;
        byte more;
        while ((more = r.ReadByte()) == 1)
        {
            // The index copies the key: read it in place, without an array of its own.
            var key = r.ReadSpan(r.ReadInt32());
            if (key.IsEmpty || (last is not null && last.Key.AsSpan().SequenceCompareTo(key) >= 0))
            {
                throw new InvalidDataException("mvcc snapshot: keys out of order");
            }
            var h = st.Index.GetOrAdd(key, out _);
            last = h;
            var n = r.ReadInt32();
            for (var i = 0; i < n; i++)
            {
                var mod = r.ReadInt64();
                var sub = r.ReadInt32();
                var create = r.ReadInt64();
                var version = r.ReadInt64();
                var lease = r.ReadInt64();
                var value = r.ReadBytes(r.ReadInt32());
                var kv = new KeyValue(h.Key, value, create, mod, sub, version, lease);
                if (mod > st.CurrentRevision || (h.Count > 0 && h.Latest!.ModRevision > mod))
                {
                    throw new InvalidDataException("mvcc snapshot: revision out of order");
                }
                h.Append(kv);
                st.UsedBytes += Cost(kv);
                if (mod >= st.CompactRevision)
                {
                    log.Add(new LogItem(h, kv));
                }
            }
            st.Attach(h, StoreState.AttachedLease(h));
        }
        if (more != 0)
        {
            throw new InvalidDataException("mvcc snapshot: malformed key record");
        }
        var computed = r.ChecksumSoFar();
        Span<byte> trailer = stackalloc byte[4];
        if (!r.TryReadExactly(trailer))
        {
            throw new InvalidDataException("mvcc snapshot: truncated");
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(trailer) != computed)
        {
            throw new InvalidDataException("mvcc snapshot: checksum mismatch");
        }
        if (!r.AtEnd())
        {
            throw new InvalidDataException("mvcc snapshot: trailing bytes");
        }

        foreach (var item in InRevisionOrder(log))
        {
            st.Log.Add(item);
        }

        _lock.EnterWriteLock();
        try
        {
            _state = st;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>
    /// <paramref name="items"/> (in key order, as a snapshot lists them) in (mod, sub) revision order:
    /// sorted on the mod revision alone (a primitive key sorts without a comparer call per step),
    /// then each run of one revision (the puts of one txn) by sub revision.
    /// </summary>
    private static LogItem[] InRevisionOrder(List<LogItem> items)
    {
        var sorted = items.ToArray();
        var mods = new long[sorted.Length];
        for (var i = 0; i < sorted.Length; i++)
        {
            mods[i] = sorted[i].Kv.ModRevision;
        }
        Array.Sort(mods, sorted);
        for (var start = 0; start < sorted.Length;)
        {
            var end = start + 1;
            while (end < sorted.Length && mods[end] == mods[start])
            {
                end++;
            }
            if (end - start > 1)
            {
                Array.Sort(sorted, start, end - start, BySubRevision.Instance);
            }
            start = end;
        }
        return sorted;
    }

    private sealed class BySubRevision : IComparer<LogItem>
    {
        public static readonly BySubRevision Instance = new();

        public int Compare(LogItem x, LogItem y) => x.Kv.SubRevision.CompareTo(y.Kv.SubRevision);
    }

    /// <summary>
    /// Reads a snapshot image through one reused buffer, keeping a running CRC-32C of every byte
    /// consumed (the bytes sitting in the buffer count only once they are read). A read past the
    /// stream's end throws <see cref="InvalidDataException"/> ("truncated").
    /// </summary>
    private sealed class RestoreReader(Stream input)
    {
        private const int BufferSize = 1 << 16;
        private const int LargeValue = 16 << 20;

        private readonly byte[] _buffer = new byte[BufferSize];
        private int _start;
        private int _end;
        private int _crcFrom;
        private uint _crc;

        public byte ReadByte()
        {
            Need(1);
            return _buffer[_start++];
        }

        public int ReadInt32()
        {
            Need(4);
            var v = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(_start));
            _start += 4;
            return v;
        }

        public long ReadInt64()
        {
            Need(8);
            var v = BinaryPrimitives.ReadInt64LittleEndian(_buffer.AsSpan(_start));
            _start += 8;
            return v;
        }

        /// <summary>
        /// The next <paramref name="count"/> bytes, valid only until the next read: in place in the
        /// buffer when they fit in it, else in a fresh array.
        /// </summary>
        public ReadOnlySpan<byte> ReadSpan(int count)
        {
            if (count < 0 || count > BufferSize)
            {
                return ReadBytes(count);
            }
            Need(count);
            var span = _buffer.AsSpan(_start, count);
            _start += count;
            return span;
        }

        /// <summary>A fresh array of <paramref name="count"/> bytes (the store keeps it).</summary>
        public byte[] ReadBytes(int count)
        {
            if (count < 0)
            {
                throw new InvalidDataException($"mvcc snapshot: negative length {count}");
            }
            // A damaged length must not allocate far more than the stream holds: big arrays grow as bytes arrive.
            var result = new byte[Math.Min(count, LargeValue)];
            var have = 0;
            while (true)
            {
                if (!TryReadExactly(result.AsSpan(have)))
                {
                    throw new InvalidDataException("mvcc snapshot: truncated");
                }
                have = result.Length;
                if (have == count)
                {
                    return result;
                }
                Array.Resize(ref result, (int)Math.Min(count, 2L * have));
            }
        }

        /// <summary>Fills <paramref name="destination"/>; false when the stream ends first.</summary>
        public bool TryReadExactly(Span<byte> destination)
        {
            while (!destination.IsEmpty)
            {
                if (_start == _end && !Fill())
                {
                    return false;
                }
                var n = Math.Min(destination.Length, _end - _start);
                _buffer.AsSpan(_start, n).CopyTo(destination);
                _start += n;
                destination = destination[n..];
            }
            return true;
        }

        /// <summary>The CRC-32C of every byte consumed so far.</summary>
        public uint ChecksumSoFar()
        {
            Settle();
            return _crc;
        }

        /// <summary>Whether nothing is left: the buffer is consumed and a read of the stream returns 0.</summary>
        public bool AtEnd() => _start == _end && !Fill();

        private void Need(int count)
        {
            if (_end - _start >= count)
            {
                return;
            }
            Settle();
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
            _crcFrom = 0;
            while (_end < count)
            {
                var n = input.Read(_buffer, _end, _buffer.Length - _end);
                if (n == 0)
                {
                    throw new InvalidDataException("mvcc snapshot: truncated");
                }
                _end += n;
            }
        }

        /// <summary>Refills an empty buffer; false at the end of the stream.</summary>
        private bool Fill()
        {
            Settle();
            _start = 0;
            _crcFrom = 0;
            _end = input.Read(_buffer, 0, _buffer.Length);
            return _end > 0;
        }

        private void Settle()
        {
            _crc = Crc32C.Append(_crc, _buffer.AsSpan(_crcFrom, _start - _crcFrom));
            _crcFrom = _start;
        }
    }
}
