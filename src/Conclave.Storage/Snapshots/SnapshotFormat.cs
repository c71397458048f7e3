using System.Buffers.Binary;
using Conclave.Raft;
using Conclave.Storage.Internal;

namespace Conclave.Storage.Snapshots;

/// <summary>
/// The layout of a snapshot file (integers little-endian; docs/storage-wal.md draws it):
/// <code>
/// header  = magic "CNCLSNP1" (8) | version u32 | header length u32 (whole header, crc included)
///           | index u64 | term u64 | conf state | data length u64 | crc32c of all header bytes before it u32
/// conf    = auto leave u8 | voters | learners | voters outgoing | learners next   (each: count u32, ids u64*)
/// data    = data length bytes, opaque to the store (the state machine's image)
/// trailer = crc32c of data u32 | "SNPE" (4)
/// </code>
/// The file is the unit of transfer too: a leader streams the file's bytes unchanged and the
/// receiver checks the same header and checksums before it keeps anything.
/// </summary>
internal static class SnapshotFormat
{
    public const uint Version = 1;
    public const int FixedHeaderPrefix = 16;
    public const int TrailerSize = 8;
    public const int MaxHeaderSize = 1 << 20;
    public const string Extension = ".snap";
    public const string TempExtension = ".tmp";

    public static ReadOnlySpan<byte> Magic => "CNCLSNP1"u8;

    public static ReadOnlySpan<byte> EndMagic => "SNPE"u8;

    public static string FileName(SnapshotMetadata metadata) => $"{metadata.Index:x16}-{metadata.Term:x16}{Extension}";

    public static bool TryParseFileName(string fileName, out ulong index, out ulong term)
    {
        index = 0;
        term = 0;
        return fileName.Length == 16 + 1 + 16 + Extension.Length
            && fileName.EndsWith(Extension, StringComparison.Ordinal)
            && fileName[16] == '-'
            && ulong.TryParse(fileName.AsSpan(0, 16), System.Globalization.NumberStyles.AllowHexSpecifier, null, out index)
            && ulong.TryParse(fileName.AsSpan(17, 16), System.Globalization.NumberStyles.AllowHexSpecifier, null, out term);
    }

    public static byte[] EncodeHeader(SnapshotMetadata metadata, ulong dataLength)
    {
        var conf = metadata.ConfState;
        var length = FixedHeaderPrefix + 16 + 1 + (4 * 4)
            + (8 * (conf.Voters.Count + conf.Learners.Count + conf.VotersOutgoing.Count + conf.LearnersNext.Count)) + 8 + 4;
        var header = new byte[length];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)length);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(16), metadata.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(24), metadata.Term);
        var p = 32;
        header[p++] = conf.AutoLeave ? (byte)1 : (byte)0;
        foreach (var list in new[] { conf.Voters, conf.Learners, conf.VotersOutgoing, conf.LearnersNext })
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(p), (uint)list.Count);
            p += 4;
            foreach (var id in list)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(p), id);
                p += 8;
            }
        }

        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(p), dataLength);
        p += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(p), Crc32C.Compute(header.AsSpan(0, p)));
        return header;
    }

    /// <summary>Reads the header length from the first <see cref="FixedHeaderPrefix"/> bytes, or returns a reason it cannot.</summary>
    public static string? TryReadHeaderLength(ReadOnlySpan<byte> prefix, out int headerLength)
    {
        headerLength = 0;
        if (prefix.Length < FixedHeaderPrefix)
        {
            return "file is shorter than a snapshot header";
        }

        if (!prefix[..8].SequenceEqual(Magic))
        {
            return "wrong magic number: not a snapshot file";
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
        if (version != Version)
        {
            return $"snapshot format version {version} is not supported (this build reads version {Version})";
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(prefix[12..]);
        if (length < FixedHeaderPrefix + 16 + 1 + 16 + 12 || length > MaxHeaderSize)
        {
            return $"implausible header length {length}";
        }

        headerLength = (int)length;
        return null;
    }

    /// <summary>Decodes a whole header; returns a reason when it is damaged.</summary>
    public static string? TryDecodeHeader(ReadOnlySpan<byte> header, out SnapshotMetadata metadata, out ulong dataLength)
    {
        metadata = SnapshotMetadata.Empty;
        dataLength = 0;
        var crcAt = header.Length - 4;
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[crcAt..]) != Crc32C.Compute(header[..crcAt]))
        {
            return "header checksum mismatch";
        }

        var index = BinaryPrimitives.ReadUInt64LittleEndian(header[16..]);
        var term = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
        var p = 32;
        var autoLeave = header[p++] != 0;
        var lists = new ulong[4][];
        for (var l = 0; l < 4; l++)
        {
            if (p + 4 > crcAt - 8)
            {
                return "header is malformed";
            }

            var count = BinaryPrimitives.ReadUInt32LittleEndian(header[p..]);
            p += 4;
            if (count > (uint)((crcAt - 8 - p) / 8))
            {
                return "header is malformed";
            }

            lists[l] = new ulong[count];
            for (var i = 0; i < count; i++)
            {
                lists[l][i] = BinaryPrimitives.ReadUInt64LittleEndian(header[p..]);
                p += 8;
            }
        }

        if (p + 8 != crcAt)
        {
            return "header is malformed";
        }

        dataLength = BinaryPrimitives.ReadUInt64LittleEndian(header[p..]);
        metadata = new SnapshotMetadata(index, term, new ConfState
        {
            Voters = lists[0],
            Learners = lists[1],
            VotersOutgoing = lists[2],
            LearnersNext = lists[3],
            AutoLeave = autoLeave,
        });
        return null;
    }

    public static byte[] EncodeTrailer(uint dataCrc)
    {
        var trailer = new byte[TrailerSize];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, dataCrc);
        EndMagic.CopyTo(trailer.AsSpan(4));
        return trailer;
    }
}
