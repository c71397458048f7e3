using System.Buffers.Binary;

namespace Conclave.Storage.Mvcc;

/// <summary>
/// Snapshot format (all integers little-endian):
/// <code>
///   "CMVCC001"                              8-byte magic and format version
///   int64 currentRevision, int64 compactRevision
///   per key, in key order:
///     byte 1, int32 keyLength, key, int32 revisionCount,
///     per revision: int64 mod, int32 sub, int64 create, int64 version, int64 lease, int32 valueLength, value
///                   (a tombstone has create = 0)
///   byte 0
///   uint32 CRC-32C of every byte before it
/// </code>
/// Only the logical history is written (what a fully pruned store holds at the snapshot's revision),
/// so a pending physical compaction does not show. Lease attachments follow from each key's latest revision.
/// </summary>
public sealed partial class MvccStore
{
    private static ReadOnlySpan<byte> Magic => "CMVCC001"u8;

    /// <summary>
    /// Writes the whole store as of the current revision — history, compaction revision, leases — to
    /// <paramref name="output"/>. Safe from any thread while the writer goes on (see <see cref="BeginSnapshot"/>).
    /// </summary>
    public void WriteSnapshot(Stream output)
    {
        using var image = BeginSnapshot();
        image.WriteTo(output);
    }

    /// <summary>
    /// Fixes the image of the store at its current revision and returns it, to be written later,
    /// from any thread, while writes go on: called between two write transactions, the image is
    /// exactly what was applied so far. It pins the state (physical pruning waits, a logical
    /// compaction does not change the image) until the image is disposed.
    /// </summary>
    public MvccSnapshotImage BeginSnapshot()
    {
        _lock.EnterReadLock();
        try
        {
            var st = _state;
            Interlocked.Increment(ref st.Pins);
            return new MvccSnapshotImage(this, st, st.CurrentRevision, st.CompactRevision);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Writes the pinned state's image (the format above); see <see cref="MvccSnapshotImage.WriteTo"/>.</summary>
    internal void WriteImage(StoreState st, long current, long compact, Stream output)
    {
        uint crc = 0;
        var buffer = new MemoryStream();
        void Flush()
        {
            var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
            crc = Crc32C.Append(crc, bytes);
            output.Write(bytes);
            buffer.SetLength(0);
        }

        var w = new BinaryWriter(buffer);
        w.Write(Magic);
        w.Write(current);
        w.Write(compact);
        // Pinned: pruning cannot run, and no compaction can pass `current` before a later revision exists,
        // so this scan sees the history as of `current` in full; revisions written after it are skipped.
        Scan(st, new byte[] { 0 }, KeyRange.NoEnd, locked: true, long.MaxValue, h =>
        {
            var (from, to) = LogicalRevisions(h, compact, current);
            if (to > from)
            {
                w.Write((byte)1);
                w.Write(h.Key.Length);
                w.Write(h.Key);
                w.Write(to - from);
                for (var i = from; i < to; i++)
                {
                    var kv = h[i];
                    w.Write(kv.ModRevision);
                    w.Write(kv.SubRevision);
                    w.Write(kv.CreateRevision);
                    w.Write(kv.Version);
                    w.Write(kv.Lease);
                    w.Write(kv.ValueArray.Length);
                    w.Write(kv.ValueArray);
                }
            }
            if (buffer.Length > 1 << 20)
            {
                Flush();
            }
        });
        w.Write((byte)0);
        Flush();
        Span<byte> trailer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, crc);
        output.Write(trailer);
    }
}
