using System.Buffers.Binary;
using System.Security.Cryptography;
using Conclave.Server.StateMachine;
using Conclave.Storage;
using Conclave.Storage.Mvcc;

namespace Conclave.Server;

/// <summary>Why a snapshot file was refused (or <see cref="Ok"/>).</summary>
public enum SnapshotFileStatus
{
    Ok,

    /// <summary>The trailing SHA-256 does not match the image (or is missing): the file was damaged or cut short.</summary>
    HashMismatch,

    /// <summary>The file is not a Conclave state image (wrong header, no store checksum, a part that does not decode).</summary>
    NotASnapshot,
}

/// <summary>
/// The outcome of <see cref="SnapshotFile.Load"/>: on <see cref="SnapshotFileStatus.Ok"/> the state the
/// file holds (a scratch state machine the caller owns) and the file's SHA-256 (lower-case hex; of the
/// padded image, as the trailer holds it); otherwise <see cref="Error"/> says what is wrong.
/// </summary>
public sealed record SnapshotFileResult(SnapshotFileStatus Status, string? Error, KvStateMachine? State, string Sha256)
{
    public bool IsOk => Status == SnapshotFileStatus.Ok;
}

/// <summary>
/// Reads what Maintenance.Snapshot streams and `conclave snapshot save` writes (etcd's layout): the
/// member's state image (<see cref="KvStateMachine.WriteSnapshot"/>), zero-padded to a multiple of 512
/// bytes, then the SHA-256 of the padded image (32 bytes).
/// </summary>
public static class SnapshotFile
{
    private const int HashLength = 32;

    /// <summary>
    /// Verifies the trailing SHA-256 (unless <paramref name="skipHashCheck"/>), finds the image's end
    /// inside the zero padding (the image ends with the CRC-32C of its store part) and loads it into a
    /// scratch state machine. With <paramref name="skipHashCheck"/> the file may also be a bare image
    /// without padding or hash (etcd's --skip-hash-check, for a file copied out of a data dir); the
    /// image's own checksums are still verified. Damage is a typed result, never an exception.
    /// </summary>
    public static SnapshotFileResult Load(byte[] bytes, bool skipHashCheck = false)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var hashed = bytes.Length >= HashLength + 16
            && SHA256.HashData(bytes.AsSpan(0, bytes.Length - HashLength)).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - HashLength));
        if (!hashed && !skipHashCheck)
        {
            return bytes.Length < HashLength + 16
                ? Refused(SnapshotFileStatus.NotASnapshot, $"not a snapshot: {bytes.Length} bytes is too short")
                : Refused(SnapshotFileStatus.HashMismatch, "the snapshot is damaged: its SHA-256 checksum does not match");
        }
        // Where the image may end: before the hash when it matched; else (hash check skipped) the whole
        // file as a bare image first, then the file less a trailer that did not match.
        var regions = hashed ? [bytes.Length - HashLength] : new[] { bytes.Length, bytes.Length - HashLength };
        string? error = null;
        foreach (var region in regions.Where(r => r >= 16))
        {
            var image = bytes.AsSpan(0, region);
            // State header: magic (8) | body length (4) | crc (4) | body; the store part follows.
            var storeStart = 16 + (long)BinaryPrimitives.ReadInt32LittleEndian(image[8..]);
            if (storeStart < 16 || storeStart > image.Length)
            {
                error ??= "not a Conclave snapshot (bad state header)";
                continue;
            }
            if (ImageEnd(image, (int)storeStart) is not { } end)
            {
                error ??= "not a Conclave snapshot (no store checksum found)";
                continue;
            }
            var state = new KvStateMachine(new MvccStore(), 1);
            try
            {
                state.Restore(new MemoryStream(bytes, 0, end, writable: false));
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
            {
                error ??= $"not a Conclave snapshot: {e.Message}";
                continue;
            }
            return new SnapshotFileResult(SnapshotFileStatus.Ok, null, state, Convert.ToHexStringLower(SHA256.HashData(image)));
        }
        return Refused(SnapshotFileStatus.NotASnapshot, error ?? $"not a snapshot: {bytes.Length} bytes is too short");
    }

    private static SnapshotFileResult Refused(SnapshotFileStatus status, string error) => new(status, error, null, string.Empty);

    /// <summary>The image length: the last position within the final 512 bytes, followed only by zeros, where the
    /// 4 bytes before it are the CRC-32C of the store part up to them.</summary>
    private static int? ImageEnd(ReadOnlySpan<byte> image, int storeStart)
    {
        var lowest = Math.Max(storeStart + 4, image.Length - 511);
        if (lowest > image.Length)
        {
            return null;
        }
        var crc = Crc32C.Compute(image[storeStart..(lowest - 4)]);
        int? found = null;
        for (var end = lowest; end <= image.Length; end++)
        {
            if (crc == BinaryPrimitives.ReadUInt32LittleEndian(image[(end - 4)..end]) && !image[end..].ContainsAnyExcept((byte)0))
            {
                found = end;
            }
            if (end < image.Length)
            {
                crc = Crc32C.Append(crc, image.Slice(end - 4, 1));
            }
        }
        return found;
    }
}
