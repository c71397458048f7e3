using System.Buffers.Binary;
using Conclave.Raft;
using Conclave.Storage.Internal;

namespace Conclave.Storage.Wal;

/// <summary>
/// The on-disk layout of a WAL segment (all integers little-endian; docs/storage-wal.md draws it):
/// <code>
/// segment  = header (40 bytes) record* zero-fill
/// header   = magic "CNCLWAL1" (8) | version u32 | reserved u32 (0) | segment seq u64 | first index u64
///            | crc32c of bytes 0..31 u32 | zero u32
/// record   = length u32 (payload bytes, &gt; 0) | header crc u32 | payload crc u32 | zero u32
///            | payload | zero padding to a multiple of 8
///            header crc  = crc32c(segment seq u64 | record offset u64 | length u32)
///            payload crc = crc32c(payload | padding), continued from the header crc
/// payload  = item+
/// item     = 1 entries:       count u32, then per entry term u64 | index u64 | type u8 | data length u32 | data
///          | 2 hard state:    term u64 | vote u64 | commit u64
///          | 3 snapshot mark: index u64 | term u64
/// </code>
/// One record is one write of the writer loop (a whole group-commit batch), so a record is the
/// unit that is either wholly durable or torn. Folding the segment sequence and the record's own
/// offset into its checksum means a copy of a record found anywhere else (inside an entry's data,
/// in a stale file) never validates. The separate header checksum makes scanning damaged bytes for
/// later valid records cheap: a random length is rejected without checksumming what it spans.
/// </summary>
internal static class WalFormat
{
    public const int HeaderSize = 40;
    public const int RecordHeaderSize = 16;
    public const uint Version = 1;
    public const byte ItemEntries = 1;
    public const byte ItemHardState = 2;
    public const byte ItemSnapshotMarker = 3;
    public const int EntryOverhead = 8 + 8 + 1 + 4;

    /// <summary>Size of the hard state and snapshot marker items that open every segment after the first.</summary>
    public const int StatePrefixSize = 1 + 24 + 1 + 16;

    public const string SegmentExtension = ".wal";
    public const string PreparedSegmentName = "next.wal.tmp";
    public const string LockFileName = "wal.lock";

    private static ReadOnlySpan<byte> Magic => "CNCLWAL1"u8;

    public static long Align8(long n) => (n + 7) & ~7L;

    public static string SegmentName(ulong seq, ulong firstIndex) => $"{seq:x16}-{firstIndex:x16}{SegmentExtension}";

    public static bool TryParseSegmentName(string fileName, out ulong seq, out ulong firstIndex)
    {
        seq = 0;
        firstIndex = 0;
        if (fileName.Length != 16 + 1 + 16 + SegmentExtension.Length
            || !fileName.EndsWith(SegmentExtension, StringComparison.Ordinal)
            || fileName[16] != '-')
        {
            return false;
        }

        return ulong.TryParse(fileName.AsSpan(0, 16), System.Globalization.NumberStyles.AllowHexSpecifier, null, out seq)
            && ulong.TryParse(fileName.AsSpan(17, 16), System.Globalization.NumberStyles.AllowHexSpecifier, null, out firstIndex);
    }

    public static void WriteHeader(Span<byte> dst, ulong seq, ulong firstIndex)
    {
        dst[..HeaderSize].Clear();
        Magic.CopyTo(dst);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[8..], Version);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], seq);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[24..], firstIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[32..], Crc32C.Compute(dst[..32]));
    }

    /// <summary>Checks a segment header; on failure <paramref name="reason"/> says what is wrong.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> src, out ulong seq, out ulong firstIndex, out string reason)
    {
        seq = 0;
        firstIndex = 0;
        if (src.Length < HeaderSize)
        {
            reason = $"segment header is short ({src.Length} of {HeaderSize} bytes)";
            return false;
        }

        if (!src[..8].SequenceEqual(Magic))
        {
            reason = "segment header has a wrong magic number";
            return false;
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(src[32..]) != Crc32C.Compute(src[..32])
            || BinaryPrimitives.ReadUInt32LittleEndian(src[12..]) != 0
            || BinaryPrimitives.ReadUInt32LittleEndian(src[36..]) != 0)
        {
            reason = "segment header checksum mismatch";
            return false;
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(src[8..]);
        if (version != Version)
        {
            reason = $"segment format version {version} is not supported (this build reads version {Version})";
            return false;
        }

        seq = BinaryPrimitives.ReadUInt64LittleEndian(src[16..]);
        firstIndex = BinaryPrimitives.ReadUInt64LittleEndian(src[24..]);
        reason = string.Empty;
        return true;
    }

    /// <summary>Checksum of a record's length at its position: (segment <paramref name="seq"/>, <paramref name="offset"/>).</summary>
    public static uint RecordHeaderCrc(ulong seq, long offset, uint length)
    {
        Span<byte> position = stackalloc byte[20];
        BinaryPrimitives.WriteUInt64LittleEndian(position, seq);
        BinaryPrimitives.WriteUInt64LittleEndian(position[8..], (ulong)offset);
        BinaryPrimitives.WriteUInt32LittleEndian(position[16..], length);
        return Crc32C.Compute(position);
    }

    /// <summary>
    /// Whether a whole, checksummed record starts at <paramref name="offset"/> of
    /// <paramref name="segment"/>. On success <paramref name="payloadLength"/> is its payload size;
    /// on failure <paramref name="reason"/> says why.
    /// </summary>
    public static bool TryReadRecord(ReadOnlySpan<byte> segment, ulong seq, long offset, out int payloadLength, out string reason)
    {
        payloadLength = 0;
        if (offset + RecordHeaderSize > segment.Length)
        {
            reason = "record header runs past the end of the file";
            return false;
        }

        var header = segment.Slice((int)offset, RecordHeaderSize);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (length == 0)
        {
            reason = "zero record length";
            return false;
        }

        var headerCrc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (headerCrc != RecordHeaderCrc(seq, offset, length) || BinaryPrimitives.ReadUInt32LittleEndian(header[12..]) != 0)
        {
            reason = "record header checksum mismatch";
            return false;
        }

        var padded = Align8(length);
        if (offset + RecordHeaderSize + padded > segment.Length)
        {
            reason = $"record of {length} bytes runs past the end of the file";
            return false;
        }

        var body = segment.Slice((int)offset + RecordHeaderSize, (int)padded);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) != Crc32C.Append(headerCrc, body))
        {
            reason = "record checksum mismatch";
            return false;
        }

        payloadLength = (int)length;
        reason = string.Empty;
        return true;
    }

    /// <summary>One decoded payload item, applied in order by recovery.</summary>
    public readonly record struct Item(byte Kind, HardState HardState, WalSnapshotMarker Marker, Entry Entry);

    /// <summary>Decodes a checksummed payload; returns null and a reason when it is malformed (a bug or a format mismatch).</summary>
    public static List<Item>? TryDecodePayload(ReadOnlySpan<byte> payload, out string reason)
    {
        var items = new List<Item>();
        var p = 0;
        while (p < payload.Length)
        {
            var kind = payload[p++];
            switch (kind)
            {
                case ItemEntries:
                    if (p + 4 > payload.Length)
                    {
                        reason = "entries item is truncated";
                        return null;
                    }

                    var count = BinaryPrimitives.ReadUInt32LittleEndian(payload[p..]);
                    p += 4;
                    for (var i = 0u; i < count; i++)
                    {
                        if (p + EntryOverhead > payload.Length)
                        {
                            reason = "entry header is truncated";
                            return null;
                        }

                        var term = BinaryPrimitives.ReadUInt64LittleEndian(payload[p..]);
                        var index = BinaryPrimitives.ReadUInt64LittleEndian(payload[(p + 8)..]);
                        var type = (EntryType)payload[p + 16];
                        var length = BinaryPrimitives.ReadUInt32LittleEndian(payload[(p + 17)..]);
                        p += EntryOverhead;
                        if (length > (uint)(payload.Length - p))
                        {
                            reason = "entry data is truncated";
                            return null;
                        }

                        var data = length == 0 ? ReadOnlyMemory<byte>.Empty : payload.Slice(p, (int)length).ToArray();
                        p += (int)length;
                        items.Add(new Item(ItemEntries, default, default, new Entry(term, index, type, data)));
                    }

                    break;
                case ItemHardState:
                    if (p + 24 > payload.Length)
                    {
                        reason = "hard state item is truncated";
                        return null;
                    }

                    var hs = new HardState(
                        BinaryPrimitives.ReadUInt64LittleEndian(payload[p..]),
                        BinaryPrimitives.ReadUInt64LittleEndian(payload[(p + 8)..]),
                        BinaryPrimitives.ReadUInt64LittleEndian(payload[(p + 16)..]));
                    p += 24;
                    items.Add(new Item(ItemHardState, hs, default, default));
                    break;
                case ItemSnapshotMarker:
                    if (p + 16 > payload.Length)
                    {
                        reason = "snapshot marker item is truncated";
                        return null;
                    }

                    var marker = new WalSnapshotMarker(
                        BinaryPrimitives.ReadUInt64LittleEndian(payload[p..]),
                        BinaryPrimitives.ReadUInt64LittleEndian(payload[(p + 8)..]));
                    p += 16;
                    items.Add(new Item(ItemSnapshotMarker, default, marker, default));
                    break;
                default:
                    reason = $"unknown item kind {kind}";
                    return null;
            }
        }

        reason = string.Empty;
        return items;
    }
}
