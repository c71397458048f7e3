using Conclave.Raft;
using Conclave.Storage.Mvcc;
using Conclave.Storage.Snapshots;
using Conclave.Storage.Tests.Wal;
using static Conclave.Storage.Tests.Mvcc.MvccTestKit;

namespace Conclave.Storage.Tests.Snapshots;

/// <summary>
/// <see cref="SnapshotStore.RestoreLatest"/> streaming an MVCC image from the file into a store:
/// what it restores, and that a damaged file found only while streaming leaves the store as it was.
/// </summary>
public sealed class SnapshotRestoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_newest_snapshot_streams_into_the_store_in_bounded_reads()
    {
        var source = Filled(seed: 1, keys: 3_000);
        // A value bigger than the restore's buffer and one bigger than its up-front allocation for a value.
        source.Put("big/1", new string('x', 200_000));
        source.Put("big/2", new string('y', 17 << 20));
        var snapshots = new SnapshotStore(_dir.Path);
        await snapshots.SaveAsync(new SnapshotMetadata(5, 1, ConfState.Empty), Write(Filled(seed: 2, keys: 10)));
        await snapshots.SaveAsync(new SnapshotMetadata(9, 2, ConfState.Empty), Write(source));

        var target = new MvccStore();
        CountingStream? counted = null;
        var result = snapshots.RestoreLatest((_, image) => target.Restore(counted = new CountingStream(image)));

        Assert.Equal(new SnapshotMetadata(9, 2, ConfState.Empty), result.Metadata);
        Assert.Empty(result.Skipped);
        Assert.Equal(source.HashKV(0), target.HashKV(0));
        Assert.Equal(source.CurrentRevision, target.CurrentRevision);
        Assert.NotNull(counted);
        Assert.Equal(result.DataBytes, counted.Total);
        // The image (over 17 MB) is read through a small buffer, never asked for whole.
        Assert.True(result.DataBytes > 17 << 20, $"image of {result.DataBytes} bytes");
        Assert.True(counted.LargestRead <= 1 << 16, $"largest read {counted.LargestRead} bytes");
    }

    [Theory]
    [InlineData("trailer crc")]
    [InlineData("data byte")]
    [InlineData("truncated")]
    public async Task A_snapshot_damaged_where_only_streaming_finds_it_is_skipped_and_the_store_is_unchanged(string damage)
    {
        var snapshots = new SnapshotStore(_dir.Path);
        var older = Filled(seed: 3, keys: 50);
        await snapshots.SaveAsync(new SnapshotMetadata(5, 1, ConfState.Empty), Write(older));
        var path = await snapshots.SaveAsync(new SnapshotMetadata(9, 2, ConfState.Empty), Write(Filled(seed: 4, keys: 2_000)));
        var bytes = await File.ReadAllBytesAsync(path);
        switch (damage)
        {
            case "trailer crc":
                // The image itself is intact (its own checksum passes): only the file's checksum tells.
                bytes[^8] ^= 0x40;
                break;
            case "data byte":
                bytes[bytes.Length / 2] ^= 0x01;
                break;
            default:
                // Cut inside the data and pad back to the length the header promises, so only reading finds it.
                Array.Clear(bytes, bytes.Length - 5_000, 5_000);
                break;
        }
        await File.WriteAllBytesAsync(path, bytes);

        var target = new MvccStore();
        target.Put("mine", "before");
        var swaps = 0;
        var result = snapshots.RestoreLatest((meta, image) =>
        {
            if (meta.Index == 9)
            {
                // The damaged image: the store must refuse it and keep what it had.
                var refused = Record.Exception(() => target.Restore(image));
                Assert.True(refused is InvalidDataException or SnapshotCorruptException, $"refused with {refused}");
                Assert.Equal("before", S(target.Get("mine")!.Value));
                throw new SnapshotCorruptException(path, "seen by the test");
            }
            target.Restore(image);
            swaps++;
        });

        Assert.Equal(1, swaps);
        Assert.Equal(5UL, result.Metadata!.Index);
        var skipped = Assert.Single(result.Skipped);
        Assert.Equal(path, skipped.FilePath);
        Assert.Equal(older.HashKV(0), target.HashKV(0));
        Assert.True(File.Exists(path), "a skipped snapshot is left on disk for inspection");
    }

    [Fact]
    public async Task A_damaged_newest_snapshot_without_an_older_one_restores_nothing()
    {
        var snapshots = new SnapshotStore(_dir.Path);
        var path = await snapshots.SaveAsync(new SnapshotMetadata(9, 2, ConfState.Empty), Write(Filled(seed: 5, keys: 100)));
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^8] ^= 0x01;
        await File.WriteAllBytesAsync(path, bytes);
        var target = new MvccStore();
        target.Put("mine", "before");

        var result = snapshots.RestoreLatest((_, image) => target.Restore(image));

        Assert.Null(result.Metadata);
        Assert.Equal("data checksum mismatch", Assert.Single(result.Skipped).Reason);
        Assert.Equal("before", S(target.Get("mine")!.Value));
        Assert.Equal(2, target.CurrentRevision);
    }

    [Fact]
    public async Task A_restore_that_stops_before_the_end_is_a_bug_not_a_skip()
    {
        var snapshots = new SnapshotStore(_dir.Path);
        await snapshots.SaveAsync(new SnapshotMetadata(9, 2, ConfState.Empty), Write(Filled(seed: 6, keys: 10)));

        var e = Assert.Throws<InvalidOperationException>(() => snapshots.RestoreLatest((_, image) => image.ReadByte()));
        Assert.Contains("without reading the image to its end", e.Message);
    }

    [Fact]
    public void An_image_read_one_byte_at_a_time_restores_the_same_store()
    {
        var source = Filled(seed: 7, keys: 300);
        source.Put("big", new string('z', 70_000));
        var image = new MemoryStream();
        source.WriteSnapshot(image);

        var target = new MvccStore();
        target.Restore(new TrickleStream(image.ToArray()));

        Assert.Equal(source.HashKV(0), target.HashKV(0));
    }

    [Fact]
    public void Trailing_bytes_or_a_damaged_length_are_refused_and_change_nothing()
    {
        var source = Filled(seed: 8, keys: 20);
        var image = new MemoryStream();
        source.WriteSnapshot(image);
        var bytes = image.ToArray();
        var target = new MvccStore();
        target.Put("mine", "before");

        var trailing = bytes.Concat(new byte[] { 0 }).ToArray();
        Assert.Equal("mvcc snapshot: trailing bytes", Assert.Throws<InvalidDataException>(() => target.Restore(new MemoryStream(trailing))).Message);
        // The first key's length (after magic, two revisions and the record marker) made huge: refused without allocating it.
        var huge = (byte[])bytes.Clone();
        BitConverter.GetBytes(int.MaxValue - 7).CopyTo(huge, 8 + 16 + 1);
        Assert.Throws<InvalidDataException>(() => target.Restore(new MemoryStream(huge)));
        var negative = (byte[])bytes.Clone();
        BitConverter.GetBytes(-1).CopyTo(negative, 8 + 16 + 1);
        Assert.Throws<InvalidDataException>(() => target.Restore(new MemoryStream(negative)));
        Assert.Equal("before", S(target.Get("mine")!.Value));
        Assert.Equal(2, target.CurrentRevision);
    }

    private static MvccStore Filled(int seed, int keys)
    {
        var random = new Random(seed);
        var store = new MvccStore();
        for (var i = 0; i < keys; i++)
        {
            store.Put($"k/{random.Next(keys):d6}", new string((char)('a' + random.Next(26)), random.Next(1, 300)), lease: random.Next(3));
            if (i % 7 == 0)
            {
                store.Delete($"k/{random.Next(keys):d6}");
            }
        }
        return store;
    }

    private static Func<Stream, CancellationToken, Task> Write(MvccStore store) => (stream, _) =>
    {
        store.WriteSnapshot(stream);
        return Task.CompletedTask;
    };

    /// <summary>Passes reads through, recording the bytes read and the largest single read asked for.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Total { get; private set; }

        public int LargestRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Total; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            LargestRead = Math.Max(LargestRead, count);
            var n = inner.Read(buffer, offset, count);
            Total += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Hands out one byte per read, so every buffer refill path of the reader runs.</summary>
    private sealed class TrickleStream(byte[] data) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => data.Length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (count == 0 || _position == data.Length)
            {
                return 0;
            }
            buffer[offset] = data[_position++];
            return 1;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
