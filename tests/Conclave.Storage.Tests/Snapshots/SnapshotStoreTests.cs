using Conclave.Raft;
using Conclave.Storage.Snapshots;
using Conclave.Storage.Tests.Wal;

namespace Conclave.Storage.Tests.Snapshots;

public sealed class SnapshotStoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public static TheoryData<string, bool> CrashPoints => new()
    {
        // point, expect the new snapshot to be the latest after the crash
        { nameof(SnapshotFailpoint.MidWrite), false },
        { nameof(SnapshotFailpoint.BeforeFsync), false },
        { nameof(SnapshotFailpoint.BeforeRename), false },
        { nameof(SnapshotFailpoint.BeforeDirectorySync), true },
        { nameof(SnapshotFailpoint.BeforeRetention), true },
    };

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_saved_snapshot_loads_back_with_its_metadata()
    {
        var store = new SnapshotStore(_dir.Path);
        Assert.Null(store.LoadLatest().Snapshot);
        var meta = new SnapshotMetadata(42, 7, new ConfState
        {
            Voters = [1, 2, 3],
            Learners = [9],
            VotersOutgoing = [1, 2, 4],
            LearnersNext = [4],
            AutoLeave = true,
        });
        var data = Image(100_000, seed: 1);
        var path = await store.SaveAsync(meta, data);

        var loaded = new SnapshotStore(_dir.Path).LoadLatest();
        Assert.Equal(path, loaded.FilePath);
        Assert.Empty(loaded.Skipped);
        Assert.NotNull(loaded.Snapshot);
        Assert.Equal(meta, loaded.Snapshot.Metadata);
        Assert.Equal(data, loaded.Snapshot.Data.ToArray());
    }

    [Fact]
    public async Task An_empty_image_and_a_streamed_image_round_trip()
    {
        var store = new SnapshotStore(_dir.Path);
        await store.SaveAsync(new SnapshotMetadata(1, 1, ConfState.Empty), ReadOnlyMemory<byte>.Empty);
        Assert.Equal(0, store.LoadLatest().Snapshot!.Data.Length);

        var image = Image(3_000_000, seed: 2);
        await store.SaveAsync(new SnapshotMetadata(2, 1, ConfState.Empty), async (stream, ct) =>
        {
            for (var i = 0; i < image.Length; i += 65_537)
            {
                await stream.WriteAsync(image.AsMemory(i, Math.Min(65_537, image.Length - i)), ct);
            }
        });
        Assert.Equal(image, store.LoadLatest().Snapshot!.Data.ToArray());
    }

    [Fact]
    public async Task Only_the_newest_are_kept()
    {
        var store = new SnapshotStore(_dir.Path, new SnapshotStoreOptions { Retain = 2 });
        for (ulong i = 1; i <= 5; i++)
        {
            await store.SaveAsync(new SnapshotMetadata(i * 10, i, ConfState.Empty), Image(100, (int)i));
        }

        Assert.Equal([50ul, 40ul], store.List().Select(f => f.NameOnly.Index));
        Assert.Equal(50ul, store.LoadLatest().Snapshot!.Metadata.Index);
    }

    [Fact]
    public async Task Saving_an_older_snapshot_never_deletes_it_at_once()
    {
        var store = new SnapshotStore(_dir.Path, new SnapshotStoreOptions { Retain = 1 });
        await store.SaveAsync(new SnapshotMetadata(50, 2, ConfState.Empty), Image(100, 1));
        var older = await store.SaveAsync(new SnapshotMetadata(40, 2, ConfState.Empty), Image(100, 2));
        Assert.True(File.Exists(older));
        Assert.Equal(50ul, store.LoadLatest().Snapshot!.Metadata.Index);
    }

    [Theory]
    [MemberData(nameof(CrashPoints))]
    public async Task A_crash_while_saving_never_leaves_a_partial_snapshot(string pointName, bool newIsLatest)
    {
        var point = Enum.Parse<SnapshotFailpoint>(pointName);
        var previous = Image(50_000, seed: 3);
        var store = new SnapshotStore(_dir.Path, new SnapshotStoreOptions { Retain = 1, Failpoints = new CrashAt(point) });
        await new SnapshotStore(_dir.Path).SaveAsync(new SnapshotMetadata(10, 1, ConfState.Empty), previous);
        var next = Image(50_000, seed: 4);
        await Assert.ThrowsAsync<SimulatedCrashException>(() => store.SaveAsync(new SnapshotMetadata(20, 2, ConfState.Empty), next));

        // What a real crash leaves behind: a temporary file, removed when the store is opened.
        await File.WriteAllBytesAsync(Path.Combine(_dir.Path, $"{20:x16}-{2:x16}.snap.tmp"), next[..1000]);
        var reopened = new SnapshotStore(_dir.Path).LoadLatest();
        Assert.Empty(reopened.Skipped);
        Assert.Equal(newIsLatest ? 20ul : 10ul, reopened.Snapshot!.Metadata.Index);
        Assert.Equal(newIsLatest ? next : previous, reopened.Snapshot.Data.ToArray());
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    public static TheoryData<string> Damages => new() { "truncated", "extended", "data bit", "header bit", "trailer bit", "magic", "renamed", "empty" };

    [Theory]
    [MemberData(nameof(Damages))]
    public async Task A_damaged_newest_file_is_skipped_with_a_reason(string damage)
    {
        var store = new SnapshotStore(_dir.Path);
        var good = Image(20_000, seed: 5);
        await store.SaveAsync(new SnapshotMetadata(10, 1, ConfState.Empty), good);
        var newest = await store.SaveAsync(new SnapshotMetadata(20, 1, new ConfState { Voters = [1] }), Image(20_000, seed: 6));
        var bytes = File.ReadAllBytes(newest);
        var rng = new Random(damage.Length);
        switch (damage)
        {
            case "truncated":
                bytes = bytes[..^100];
                break;
            case "extended":
                bytes = [.. bytes, 0, 0, 0, 0];
                break;
            case "data bit":
                bytes[rng.Next(100, bytes.Length - 100)] ^= 0x10;
                break;
            case "header bit":
                bytes[rng.Next(16, 40)] ^= 0x01;
                break;
            case "trailer bit":
                bytes[^(1 + rng.Next(8))] ^= 0x80;
                break;
            case "magic":
                bytes[0] = (byte)'X';
                break;
            case "empty":
                bytes = [];
                break;
        }

        File.WriteAllBytes(newest, bytes);
        if (damage == "renamed")
        {
            File.Move(newest, Path.Combine(_dir.Path, $"{30:x16}-{1:x16}.snap"));
        }

        var result = new SnapshotStore(_dir.Path).LoadLatest();
        Assert.Equal(10ul, result.Snapshot!.Metadata.Index);
        Assert.Equal(good, result.Snapshot.Data.ToArray());
        var skipped = Assert.Single(result.Skipped);
        Assert.False(string.IsNullOrWhiteSpace(skipped.Reason));
    }

    [Fact]
    public async Task A_large_image_round_trips_through_chunks()
    {
        var source = new SnapshotStore(_dir.Sub("leader"));
        var meta = new SnapshotMetadata(1_000_000, 12, new ConfState { Voters = [1, 2, 3], Learners = [4] });
        var image = Image(40 * 1024 * 1024 + 123, seed: 8);
        var path = await source.SaveAsync(meta, image);

        var target = new SnapshotStore(_dir.Sub("follower"));
        var chunks = 0;
        var installed = await target.InstallAsync(Count(SnapshotStore.ReadChunksAsync(path, 1 << 20), () => chunks++));
        Assert.Equal(meta, installed);
        Assert.Equal(41, chunks);
        var loaded = target.LoadLatest();
        Assert.Equal(meta, loaded.Snapshot!.Metadata);
        Assert.True(image.AsSpan().SequenceEqual(loaded.Snapshot.Data.Span));
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(loaded.FilePath!));
    }

    [Fact]
    public async Task Chunk_boundaries_do_not_matter()
    {
        var source = new SnapshotStore(_dir.Sub("leader"));
        var path = await source.SaveAsync(new SnapshotMetadata(5, 1, ConfState.Empty), Image(300_000, seed: 9));
        var target = new SnapshotStore(_dir.Sub("follower"));
        var bytes = File.ReadAllBytes(path);
        var rng = new Random(10);
        await target.InstallAsync(Rechunk(bytes, rng));
        Assert.Equal(bytes, File.ReadAllBytes(target.LoadLatest().FilePath!));
    }

    public static TheoryData<string> TransferFaults => new() { "truncated", "corrupted", "empty", "extra bytes" };

    [Theory]
    [MemberData(nameof(TransferFaults))]
    public async Task A_bad_transfer_is_rejected_and_changes_nothing(string fault)
    {
        var source = new SnapshotStore(_dir.Sub("leader"));
        var path = await source.SaveAsync(new SnapshotMetadata(500, 3, ConfState.Empty), Image(2_000_000, seed: 11));
        var target = new SnapshotStore(_dir.Sub("follower"));
        var previous = Image(1000, seed: 12);
        await target.SaveAsync(new SnapshotMetadata(100, 2, ConfState.Empty), previous);

        var bytes = File.ReadAllBytes(path);
        bytes = fault switch
        {
            "truncated" => bytes[..(bytes.Length - 70_000)],
            "corrupted" => Flip(bytes, new Random(13).Next(bytes.Length)),
            "empty" => [],
            _ => [.. bytes, 1, 2, 3],
        };

        var ex = await Assert.ThrowsAsync<SnapshotCorruptException>(() => target.InstallAsync(Rechunk(bytes, new Random(14))));
        Assert.False(string.IsNullOrWhiteSpace(ex.Reason));
        var loaded = target.LoadLatest();
        Assert.Equal(100ul, loaded.Snapshot!.Metadata.Index);
        Assert.Equal(previous, loaded.Snapshot.Data.ToArray());
        Assert.Single(Directory.GetFiles(_dir.Sub("follower")));
    }

    [Fact]
    public async Task A_crash_during_install_leaves_the_previous_snapshot()
    {
        var source = new SnapshotStore(_dir.Sub("leader"));
        var path = await source.SaveAsync(new SnapshotMetadata(500, 3, ConfState.Empty), Image(100_000, seed: 15));
        var previous = Image(1000, seed: 16);
        await new SnapshotStore(_dir.Sub("follower")).SaveAsync(new SnapshotMetadata(100, 2, ConfState.Empty), previous);
        var target = new SnapshotStore(_dir.Sub("follower"), new SnapshotStoreOptions { Failpoints = new CrashAt(SnapshotFailpoint.BeforeRename) });
        await Assert.ThrowsAsync<SimulatedCrashException>(() => target.InstallAsync(SnapshotStore.ReadChunksAsync(path, 4096)));
        Assert.Equal(100ul, new SnapshotStore(_dir.Sub("follower")).LoadLatest().Snapshot!.Metadata.Index);
    }

    private static byte[] Image(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static byte[] Flip(byte[] bytes, int at)
    {
        bytes[at] ^= 0x04;
        return bytes;
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Rechunk(byte[] bytes, Random rng)
    {
        var p = 0;
        while (p < bytes.Length)
        {
            var n = Math.Min(bytes.Length - p, rng.Next(1, 70_000));
            yield return bytes.AsMemory(p, n);
            p += n;
            await Task.Yield();
        }
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Count(IAsyncEnumerable<ReadOnlyMemory<byte>> chunks, Action onChunk)
    {
        await foreach (var c in chunks)
        {
            onChunk();
            yield return c;
        }
    }

    private sealed class CrashAt(SnapshotFailpoint point) : ISnapshotFailpoints
    {
        public void Hit(SnapshotFailpoint p)
        {
            if (p == point)
            {
                throw new SimulatedCrashException(p.ToString());
            }
        }
    }
}
