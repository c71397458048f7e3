using System.Runtime.CompilerServices;
using Conclave.Raft;
using Conclave.Storage.Internal;

namespace Conclave.Storage.Snapshots;

public sealed class SnapshotStoreOptions
{
    /// <summary>How many snapshot files to keep; older ones are deleted after each save or install. At least 1.</summary>
    public int Retain { get; init; } = 3;

    internal ISnapshotFailpoints? Failpoints { get; init; }
}

/// <summary>A snapshot file that failed its checks and was passed over, with the reason.</summary>
public sealed record SkippedSnapshot(string FilePath, string Reason);

/// <summary>
/// The newest snapshot that passed every check (null when there is none) and every newer file
/// that did not, so the caller can log why it was passed over.
/// </summary>
public sealed record SnapshotLoadResult(Snapshot? Snapshot, string? FilePath, IReadOnlyList<SkippedSnapshot> Skipped);

/// <summary>
/// What <see cref="SnapshotStore.RestoreLatest"/> restored: the snapshot's metadata, file and image
/// size in bytes (null metadata and path when there was none), and every newer file passed over.
/// </summary>
public sealed record SnapshotRestoreResult(SnapshotMetadata? Metadata, string? FilePath, long DataBytes, IReadOnlyList<SkippedSnapshot> Skipped);

/// <summary>
/// Snapshot files in one directory, one per (index, term), named so that name order is age order.
/// A snapshot becomes visible only once complete and durable: it is written to a temporary file,
/// synced, renamed into place, and the directory synced. Temporary files left by a crash are
/// deleted when the store is opened. Not thread-safe: one member's snapshot work is sequential.
/// </summary>
public sealed class SnapshotStore
{
    private const int CopyBufferSize = 1 << 20;

    private readonly string _dir;
    private readonly SnapshotStoreOptions _options;
    private readonly ISnapshotFailpoints? _failpoints;

    public SnapshotStore(string dir, SnapshotStoreOptions? options = null)
    {
        _options = options ?? new SnapshotStoreOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Retain, 1);
        _dir = dir;
        _failpoints = _options.Failpoints;
        Directory.CreateDirectory(dir);
        foreach (var temp in Directory.EnumerateFiles(dir, "*" + SnapshotFormat.TempExtension))
        {
            File.Delete(temp);
        }
    }

    /// <summary>Saves an image held in memory. See <see cref="SaveAsync(SnapshotMetadata, Func{Stream, CancellationToken, Task}, CancellationToken)"/>.</summary>
    public Task<string> SaveAsync(SnapshotMetadata metadata, ReadOnlyMemory<byte> data, CancellationToken ct = default) =>
        SaveAsync(metadata, (stream, token) => stream.WriteAsync(data, token).AsTask(), ct);

    /// <summary>
    /// Saves a snapshot whose image <paramref name="writeData"/> writes to the stream it is given
    /// (a forward-only stream; its length need not be known in advance). Returns the file's path
    /// once it is durable. A snapshot with the same index and term replaces the existing one.
    /// </summary>
    public async Task<string> SaveAsync(SnapshotMetadata metadata, Func<Stream, CancellationToken, Task> writeData, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var finalPath = Path.Combine(_dir, SnapshotFormat.FileName(metadata));
        var tempPath = finalPath + SnapshotFormat.TempExtension;
        try
        {
            await using (var file = new FileStream(tempPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 0, FileOptions.Asynchronous))
            {
                var placeholder = SnapshotFormat.EncodeHeader(metadata, 0);
                await file.WriteAsync(placeholder, ct);
                var body = new ChecksumStream(file, _failpoints);
                await writeData(body, ct);
                var header = SnapshotFormat.EncodeHeader(metadata, (ulong)body.Length);
                await file.WriteAsync(SnapshotFormat.EncodeTrailer(body.Crc), ct);
                file.Position = 0;
                await file.WriteAsync(header, ct);
                _failpoints?.Hit(SnapshotFailpoint.BeforeFsync);
                file.Flush(flushToDisk: true);
            }

            Publish(tempPath, finalPath);
        }
        catch
        {
            DeleteQuietly(tempPath);
            throw;
        }

        return finalPath;
    }

    /// <summary>Every snapshot file, newest first, without checking its content.</summary>
    public IReadOnlyList<(SnapshotMetadata NameOnly, string FilePath)> List()
    {
        var files = new List<(SnapshotMetadata, string)>();
        foreach (var path in Directory.EnumerateFiles(_dir, "*" + SnapshotFormat.Extension))
        {
            if (SnapshotFormat.TryParseFileName(Path.GetFileName(path), out var index, out var term))
            {
                files.Add((new SnapshotMetadata(index, term, ConfState.Empty), path));
            }
        }

        return files
            .OrderByDescending(f => f.Item1.Index)
            .ThenByDescending(f => f.Item1.Term)
            .ToList();
    }

    /// <summary>
    /// Loads the newest snapshot whose header, length and checksums are all correct and whose
    /// name matches its header. Newer files that fail are reported in
    /// <see cref="SnapshotLoadResult.Skipped"/> and left on disk for inspection.
    /// </summary>
    public SnapshotLoadResult LoadLatest()
    {
        var skipped = new List<SkippedSnapshot>();
        foreach (var (nameOnly, path) in List())
        {
            var data = ReadData(path, out var metadata, out var reason);
            if (data is not null && (metadata.Index != nameOnly.Index || metadata.Term != nameOnly.Term))
            {
                reason = $"file name says index {nameOnly.Index} term {nameOnly.Term} but its header says index {metadata.Index} term {metadata.Term}";
                data = null;
            }

            if (data is null)
            {
                skipped.Add(new SkippedSnapshot(path, reason ?? "unreadable"));
                continue;
            }

            return new SnapshotLoadResult(new Snapshot(metadata, data), path, skipped);
        }

        return new SnapshotLoadResult(null, null, skipped);
    }

    /// <summary>
    /// Restores the newest snapshot that passes every check, in one streaming pass, without holding
    /// its image in memory: <paramref name="restore"/> is given the metadata and the image as a
    /// forward-only stream (<see cref="Stream.Length"/> is its size) and must read it to its end
    /// (until a read returns 0) before it makes anything it read visible. That last read checks the
    /// file's checksum and throws <see cref="SnapshotCorruptException"/> on a mismatch, so a
    /// restore that builds its new state aside and swaps it in at the end never installs a damaged
    /// image. When the header is bad, or <paramref name="restore"/> throws
    /// <see cref="InvalidDataException"/>, <see cref="EndOfStreamException"/> or
    /// <see cref="SnapshotCorruptException"/>, the file is reported in
    /// <see cref="SnapshotRestoreResult.Skipped"/> (and left on disk) and the next older one is
    /// tried. Any other exception propagates. Returns the metadata of the snapshot restored, or null
    /// metadata when no file passed (then <paramref name="restore"/> installed nothing).
    /// </summary>
    public SnapshotRestoreResult RestoreLatest(Action<SnapshotMetadata, Stream> restore)
    {
        ArgumentNullException.ThrowIfNull(restore);
        var skipped = new List<SkippedSnapshot>();
        foreach (var (nameOnly, path) in List())
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferSize, FileOptions.SequentialScan);
            var reason = ReadHeader(file, out var metadata, out _, out var dataLength);
            if (reason is null && (metadata.Index != nameOnly.Index || metadata.Term != nameOnly.Term))
            {
                reason = $"file name says index {nameOnly.Index} term {nameOnly.Term} but its header says index {metadata.Index} term {metadata.Term}";
            }

            if (reason is not null)
            {
                skipped.Add(new SkippedSnapshot(path, reason));
                continue;
            }

            var length = (long)dataLength;
            var body = new SnapshotDataStream(file, path, length);
            try
            {
                restore(metadata, body);
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or SnapshotCorruptException)
            {
                skipped.Add(new SkippedSnapshot(path, e is SnapshotCorruptException c ? c.Reason : e.Message));
                continue;
            }

            if (!body.Verified)
            {
                throw new InvalidOperationException($"snapshot: the restore of {path} returned without reading the image to its end, so its checksum was never checked");
            }

            return new SnapshotRestoreResult(metadata, path, length, skipped);
        }

        return new SnapshotRestoreResult(null, null, 0, skipped);
    }

    /// <summary>
    /// The raw bytes of the snapshot file at <paramref name="filePath"/> (as returned by
    /// <see cref="LoadLatest"/> or <see cref="SaveAsync(SnapshotMetadata, ReadOnlyMemory{byte}, CancellationToken)"/>),
    /// in chunks of at most <paramref name="chunkSize"/> bytes, to be sent to a follower or a
    /// client; the receiver passes them to <see cref="InstallAsync"/>. Each chunk is a fresh buffer
    /// the consumer may keep.
    /// </summary>
    public static async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadChunksAsync(
        string filePath, int chunkSize = 1 << 20, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        await using var file = new FileStream(filePath, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
        while (true)
        {
            var chunk = new byte[chunkSize];
            var n = await file.ReadAtLeastAsync(chunk, chunkSize, throwOnEndOfStream: false, ct);
            if (n == 0)
            {
                yield break;
            }

            yield return chunk.AsMemory(0, n);
            if (n < chunkSize)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// Receives a snapshot file sent as chunks by <see cref="ReadChunksAsync"/>, checks it whole,
    /// and only then makes it the newest snapshot (temp file, sync, rename, directory sync). A
    /// truncated or damaged transfer throws <see cref="SnapshotCorruptException"/> and leaves the
    /// store as it was.
    /// </summary>
    public async Task<SnapshotMetadata> InstallAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> chunks, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var tempPath = Path.Combine(_dir, $"install-{Guid.NewGuid():N}{SnapshotFormat.TempExtension}");
        try
        {
            await using (var file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
            {
                await foreach (var chunk in chunks.WithCancellation(ct))
                {
                    await file.WriteAsync(chunk, ct);
                }

                _failpoints?.Hit(SnapshotFailpoint.BeforeFsync);
                file.Flush(flushToDisk: true);
            }

            var reason = Verify(tempPath, out var metadata, out _);
            if (reason is not null)
            {
                throw new SnapshotCorruptException("received transfer", reason);
            }

            Publish(tempPath, Path.Combine(_dir, SnapshotFormat.FileName(metadata)));
            return metadata;
        }
        catch
        {
            DeleteQuietly(tempPath);
            throw;
        }
    }

    /// <summary>
    /// Reads and checks the header of the file open in <paramref name="file"/> (positioned at its
    /// start) and that the file's length is the one the header describes; leaves the file
    /// positioned at the start of the data. Returns null when they are good, else the reason.
    /// </summary>
    private static string? ReadHeader(FileStream file, out SnapshotMetadata metadata, out int headerLength, out ulong dataLength)
    {
        metadata = SnapshotMetadata.Empty;
        dataLength = 0;
        var prefix = new byte[SnapshotFormat.FixedHeaderPrefix];
        var n = file.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
        var reason = SnapshotFormat.TryReadHeaderLength(prefix.AsSpan(0, n), out headerLength);
        if (reason is not null)
        {
            return reason;
        }

        if (file.Length < headerLength)
        {
            return $"file of {file.Length} bytes is shorter than its header ({headerLength} bytes)";
        }

        var header = new byte[headerLength];
        prefix.CopyTo(header, 0);
        file.ReadExactly(header, prefix.Length, headerLength - prefix.Length);
        reason = SnapshotFormat.TryDecodeHeader(header, out metadata, out dataLength);
        if (reason is not null)
        {
            return reason;
        }

        var expected = headerLength + (long)dataLength + SnapshotFormat.TrailerSize;
        if (dataLength > long.MaxValue / 2 || file.Length != expected)
        {
            return $"file is {file.Length} bytes but its header describes {expected} bytes (truncated or extended)";
        }

        return null;
    }

    /// <summary>Checks a snapshot file completely; returns null when it is good, else the reason it is not.</summary>
    internal static string? Verify(string path, out SnapshotMetadata metadata, out long dataOffset)
    {
        dataOffset = 0;
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.SequentialScan);
        var reason = ReadHeader(file, out metadata, out var headerLength, out var dataLength);
        if (reason is not null)
        {
            return reason;
        }

        dataOffset = headerLength;
        var buffer = new byte[CopyBufferSize];
        var crc = 0u;
        var left = (long)dataLength;
        while (left > 0)
        {
            var read = file.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (read == 0)
            {
                return "file ended inside its data";
            }

            crc = Crc32C.Append(crc, buffer.AsSpan(0, read));
            left -= read;
        }

        var trailer = new byte[SnapshotFormat.TrailerSize];
        file.ReadExactly(trailer);
        if (!trailer.AsSpan(4).SequenceEqual(SnapshotFormat.EndMagic))
        {
            return "trailer is damaged";
        }

        if (BitConverter.ToUInt32(trailer, 0) != crc)
        {
            return "data checksum mismatch";
        }

        return null;
    }

    /// <summary>Verifies the file, then reads its data and checks the data checksum again on what was read.</summary>
    private static byte[]? ReadData(string path, out SnapshotMetadata metadata, out string? reason)
    {
        reason = Verify(path, out metadata, out var dataOffset);
        if (reason is not null)
        {
            return null;
        }

        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var data = new byte[file.Length - dataOffset - SnapshotFormat.TrailerSize];
        file.Position = dataOffset;
        file.ReadExactly(data);
        var trailer = new byte[SnapshotFormat.TrailerSize];
        file.ReadExactly(trailer);
        if (BitConverter.ToUInt32(trailer, 0) != Crc32C.Compute(data))
        {
            reason = "data checksum mismatch on second read";
            return null;
        }

        return data;
    }

    private void Publish(string tempPath, string finalPath)
    {
        _failpoints?.Hit(SnapshotFailpoint.BeforeRename);
        File.Move(tempPath, finalPath, overwrite: true);
        _failpoints?.Hit(SnapshotFailpoint.BeforeDirectorySync);
        DurableIo.SyncDirectory(_dir);
        _failpoints?.Hit(SnapshotFailpoint.BeforeRetention);
        // Retention goes by name (age), never deleting the file just published.
        var old = List().Skip(_options.Retain).Where(f => f.FilePath != finalPath).ToList();
        foreach (var (_, path) in old)
        {
            File.Delete(path);
        }

        if (old.Count > 0)
        {
            DurableIo.SyncDirectory(_dir);
        }
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Left for the next open, which deletes temporary files.
        }
    }

    /// <summary>Forwards writes to the snapshot file, counting them and checksumming them on the way.</summary>
    private sealed class ChecksumStream(FileStream inner, ISnapshotFailpoints? failpoints) : Stream
    {
        private long _length;
        private bool _hitMidWrite;

        public uint Crc { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position
        {
            get => _length;
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Account(buffer);
            inner.Write(buffer);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (failpoints is not null && !_hitMidWrite && buffer.Length > 1)
            {
                // Write the first half, then let the test stop here with a partial temp file.
                var half = buffer.Length / 2;
                Account(buffer.Span[..half]);
                await inner.WriteAsync(buffer[..half], cancellationToken);
                _hitMidWrite = true;
                failpoints.Hit(SnapshotFailpoint.MidWrite);
                buffer = buffer[half..];
            }

            Account(buffer.Span);
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private void Account(ReadOnlySpan<byte> data)
        {
            Crc = Crc32C.Append(Crc, data);
            _length += data.Length;
        }
    }
}
