using System.Buffers.Binary;
using System.Numerics;

namespace Conclave.Storage.Mvcc;

public sealed partial class MvccStore
{
    /// <summary>
    /// History of (key, rangeEnd) from <paramref name="startRevision"/> on — the catch-up source for
    /// watchers. <paramref name="startRevision"/> ≤ 0 means "from now" (nothing yet, NextRevision =
    /// current + 1). Below the compaction revision: <see cref="MvccStatus.Compacted"/> with
    /// CompactRevision set (etcd cancels the watch with compact_revision, and the client may restart
    /// there: starting AT the compaction revision is allowed).
    /// <para>
    /// Whole revisions only: it stops after the first revision at which the number of events reaches
    /// <paramref name="limit"/> (0 = no limit); <see cref="EventsResult.NextRevision"/> is where to continue.
    /// Events at the compaction revision itself are those compaction keeps (puts that are their key's newest
    /// revision ≤ C), without PrevKv. A PrevKv is the key's previous revision if that was live.
    /// </para>
    /// </summary>
    public EventsResult EventsSince(long startRevision, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> rangeEnd, int limit = 0)
    {
        var events = new List<Event>();
        StoreState st;
        long current, compact;
        _lock.EnterReadLock();
        try
        {
            st = _state;
            current = st.CurrentRevision;
            compact = st.CompactRevision;
        }
        finally
        {
            _lock.ExitReadLock();
        }
        if (startRevision <= 0)
        {
            return new EventsResult(MvccStatus.Ok, events, current + 1, compact);
        }
        if (startRevision < compact)
        {
            return new EventsResult(MvccStatus.Compacted, events, startRevision, compact);
        }
        var next = startRevision;
        while (next <= current)
        {
            _lock.EnterReadLock();
            try
            {
                // A compaction may have landed since the last chunk: past `next` the read is lost, up to it
                // the events from here on follow the new compaction revision.
                compact = st.CompactRevision;
                if (compact > next)
                {
                    return new EventsResult(MvccStatus.Compacted, [], next, compact);
                }
                var i = st.Log.Seek(next);
                var visited = 0;
                while (i < st.Log.Count && visited < Options.ReadChunkKeys)
                {
                    var revision = st.Log.RevisionAt(i);
                    if (revision > current)
                    {
                        break;
                    }
                    // The changes of one revision are consecutive: take all of them.
                    for (; i < st.Log.Count && st.Log.RevisionAt(i) == revision; i++)
                    {
                        ref readonly var item = ref st.Log[i];
                        if (KeyRange.Contains(key.Span, rangeEnd.Span, item.History.Key))
                        {
                            var ev = ToEvent(item, compact);
                            if (ev is not null)
                            {
                                events.Add(ev);
                            }
                        }
                    }
                    next = revision + 1;
                    visited++;
                    if (limit > 0 && events.Count >= limit)
                    {
                        return new EventsResult(MvccStatus.Ok, events, next, compact);
                    }
                }
                if (i >= st.Log.Count || st.Log.RevisionAt(i) > current)
                {
                    next = current + 1;
                }
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
        return new EventsResult(MvccStatus.Ok, events, next, compact);
    }

    private static Event? ToEvent(LogItem item, long compact)
    {
        var kv = item.Kv;
        var h = item.History;
        var idx = h.IndexOf(kv);
        if (kv.ModRevision == compact)
        {
            // Only what compaction at C keeps: the key's newest revision ≤ C, when live.
            if (kv.IsTombstone || idx < 0 || (idx + 1 < h.Count && h[idx + 1].ModRevision <= compact))
            {
                return null;
            }
            return new Event(EventType.Put, kv, null);
        }
        if (idx < 0)
        {
            throw new InvalidOperationException($"mvcc: revision {kv.ModRevision} above the compaction revision is missing from its key's history");
        }
        var prev = idx > 0 && !h[idx - 1].IsTombstone ? h[idx - 1] : null;
        return new Event(kv.IsTombstone ? EventType.Delete : EventType.Put, kv, prev);
    }

    /// <summary>
    /// etcd HashKV: a CRC-32C over every key revision that exists logically at <paramref name="revision"/>
    /// (0 = current): for each key in key order, its newest revision ≤ the compaction revision C when live,
    /// then its revisions in (C, revision]. Independent of how far physical pruning has got, so members
    /// that applied the same log agree. Below C: Compacted; above current: FutureRevision.
    /// </summary>
    public HashKVResult HashKV(long revision)
    {
        while (true)
        {
            StoreState st;
            long current, compact;
            _lock.EnterReadLock();
            try
            {
                st = _state;
                current = st.CurrentRevision;
                compact = st.CompactRevision;
            }
            finally
            {
                _lock.ExitReadLock();
            }
            if (revision > 0 && revision < compact)
            {
                return new HashKVResult(MvccStatus.Compacted, 0, current, compact, revision);
            }
            if (revision > current)
            {
                return new HashKVResult(MvccStatus.FutureRevision, 0, current, compact, revision);
            }
            var rev = revision <= 0 ? current : revision;
            uint crc = 0;
            var ok = Scan(st, new byte[] { 0 }, KeyRange.NoEnd, locked: true, rev, h =>
            {
                var (from, to) = LogicalRevisions(h, compact, rev);
                for (var i = from; i < to; i++)
                {
                    crc = HashKv(crc, h[i]);
                }
            });
            _lock.EnterReadLock();
            try
            {
                ok &= st.CompactRevision == compact;
            }
            finally
            {
                _lock.ExitReadLock();
            }
            if (ok)
            {
                return new HashKVResult(MvccStatus.Ok, crc, current, compact, rev);
            }
            // A compaction landed during the scan: hash again against the new compaction revision.
        }
    }

    private static uint HashKv(uint crc, KeyValue kv)
    {
        Span<byte> header = stackalloc byte[45];
        BinaryPrimitives.WriteInt64LittleEndian(header, kv.ModRevision);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], kv.SubRevision);
        BinaryPrimitives.WriteInt64LittleEndian(header[12..], kv.CreateRevision);
        BinaryPrimitives.WriteInt64LittleEndian(header[20..], kv.Version);
        BinaryPrimitives.WriteInt64LittleEndian(header[28..], kv.Lease);
        BinaryPrimitives.WriteInt32LittleEndian(header[36..], kv.KeyArray.Length);
        BinaryPrimitives.WriteInt32LittleEndian(header[40..], kv.ValueArray.Length);
        header[44] = kv.IsTombstone ? (byte)1 : (byte)0;
        crc = Crc32C.Append(crc, header);
        crc = Crc32C.Append(crc, kv.KeyArray);
        return Crc32C.Append(crc, kv.ValueArray);
    }

    /// <summary>Keys currently attached to <paramref name="lease"/> (whose latest revision is live with that lease), in key order.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> KeysWithLease(long lease)
    {
        _lock.EnterReadLock();
        try
        {
            if (!_state.Leases.TryGetValue(lease, out var set))
            {
                return [];
            }
            var keys = set.Select(h => (ReadOnlyMemory<byte>)h.Key).ToList();
            keys.Sort((a, b) => a.Span.SequenceCompareTo(b.Span));
            return keys;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Every lease that has at least one key attached, ascending.</summary>
    public IReadOnlyList<long> Leases()
    {
        _lock.EnterReadLock();
        try
        {
            var ids = _state.Leases.Keys.ToList();
            ids.Sort();
            return ids;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }
}
