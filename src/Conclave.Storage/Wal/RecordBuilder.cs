using System.Buffers.Binary;
using Conclave.Raft;
using Conclave.Storage.Internal;

namespace Conclave.Storage.Wal;

/// <summary>
/// Encodes one group-commit batch into one record. Owned by the writer loop and reused across
/// batches. The buffer keeps room in front of the payload for the record header and for the
/// hard state + snapshot marker items that a record opening a new segment carries, so the
/// rollover decision can be made after the batch is encoded without copying it:
/// <code>
/// [0..16) header if state prefix | [16..58) state prefix | [58..) batch items | padding
///                                 | [42..58) header if no prefix
/// </code>
/// </summary>
internal sealed class RecordBuilder
{
    private const int BodyStart = WalFormat.RecordHeaderSize + WalFormat.StatePrefixSize;

    private byte[] _buffer = new byte[64 * 1024];
    private int _end = BodyStart;

    public int BodyLength => _end - BodyStart;

    public bool IsEmpty => _end == BodyStart;

    /// <summary>Record size on disk (header, payload, padding) if sealed now.</summary>
    public long RecordSize(bool withStatePrefix) =>
        WalFormat.RecordHeaderSize + WalFormat.Align8(BodyLength + (withStatePrefix ? WalFormat.StatePrefixSize : 0));

    public static long EncodedSize(IReadOnlyList<Entry> entries)
    {
        long size = 1 + 4 + 1 + 24;
        foreach (var e in entries)
        {
            size += WalFormat.EntryOverhead + e.Data.Length;
        }

        return size;
    }

    public void Reset() => _end = BodyStart;

    public void AddEntries(IReadOnlyList<Entry> entries)
    {
        if (entries.Count == 0)
        {
            return;
        }

        Ensure(1 + 4);
        _buffer[_end] = WalFormat.ItemEntries;
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_end + 1), (uint)entries.Count);
        _end += 5;
        foreach (var e in entries)
        {
            Ensure(WalFormat.EntryOverhead + e.Data.Length);
            var span = _buffer.AsSpan(_end);
            BinaryPrimitives.WriteUInt64LittleEndian(span, e.Term);
            BinaryPrimitives.WriteUInt64LittleEndian(span[8..], e.Index);
            span[16] = (byte)e.Type;
            BinaryPrimitives.WriteUInt32LittleEndian(span[17..], (uint)e.Data.Length);
            e.Data.Span.CopyTo(span[WalFormat.EntryOverhead..]);
            _end += WalFormat.EntryOverhead + e.Data.Length;
        }
    }

    public void AddHardState(HardState hs)
    {
        Ensure(25);
        WriteHardState(_buffer.AsSpan(_end), hs);
        _end += 25;
    }

    public void AddSnapshotMarker(WalSnapshotMarker marker)
    {
        Ensure(17);
        WriteMarker(_buffer.AsSpan(_end), marker);
        _end += 17;
    }

    /// <summary>
    /// Finishes the record for position (<paramref name="seq"/>, <paramref name="offset"/>) and
    /// returns its bytes, valid until the next call on this builder. With a state prefix the
    /// record starts with <paramref name="hs"/> and <paramref name="marker"/> before the batch.
    /// </summary>
    public ReadOnlySpan<byte> Seal(ulong seq, long offset, bool withStatePrefix, HardState hs, WalSnapshotMarker marker)
    {
        var start = withStatePrefix ? 0 : WalFormat.StatePrefixSize;
        if (withStatePrefix)
        {
            WriteHardState(_buffer.AsSpan(WalFormat.RecordHeaderSize), hs);
            WriteMarker(_buffer.AsSpan(WalFormat.RecordHeaderSize + 25), marker);
        }

        var payloadLength = _end - start - WalFormat.RecordHeaderSize;
        var padded = (int)WalFormat.Align8(payloadLength);
        Ensure(padded - payloadLength);
        _buffer.AsSpan(_end, padded - payloadLength).Clear();
        var record = _buffer.AsSpan(start, WalFormat.RecordHeaderSize + padded);
        var headerCrc = WalFormat.RecordHeaderCrc(seq, offset, (uint)payloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)payloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], headerCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], Crc32C.Append(headerCrc, record[WalFormat.RecordHeaderSize..]));
        BinaryPrimitives.WriteUInt32LittleEndian(record[12..], 0);
        return record;
    }

    private static void WriteHardState(Span<byte> dst, HardState hs)
    {
        dst[0] = WalFormat.ItemHardState;
        BinaryPrimitives.WriteUInt64LittleEndian(dst[1..], hs.Term);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[9..], hs.Vote);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[17..], hs.Commit);
    }

    private static void WriteMarker(Span<byte> dst, WalSnapshotMarker marker)
    {
        dst[0] = WalFormat.ItemSnapshotMarker;
        BinaryPrimitives.WriteUInt64LittleEndian(dst[1..], marker.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[9..], marker.Term);
    }

    private void Ensure(int more)
    {
        if (_end + more + 8 <= _buffer.Length)
        {
            return;
        }

        var size = _buffer.Length;
        while (size < _end + more + 8)
        {
            size *= 2;
        }

        Array.Resize(ref _buffer, size);
    }
}
