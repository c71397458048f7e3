using System.Buffers.Binary;
using Conclave.Raft;
using Conclave.Storage.Snapshots;
using Conclave.Storage.Wal;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// WAL segments and snapshot files written by the real <see cref="WriteAheadLog"/> and
/// <see cref="SnapshotStore"/>, then damaged: bytes flipped, inserted or deleted, files truncated at
/// and around every record boundary, garbage written after the last record. Opening must either
/// recover exactly what some prefix of the writes left (a torn tail cut off) or fail with the
/// store's corruption error naming the file and offset; it never returns damaged data as valid.
/// </summary>
public sealed class StorageFuzzTests : IDisposable
{
    private const long SegmentSize = 4096;
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"conclave-fuzz-{Guid.NewGuid():N}");

    public StorageFuzzTests()
    {
        Directory.CreateDirectory(_root);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task A_damaged_wal_opens_as_a_prefix_of_what_was_written_or_fails_naming_file_and_offset()
    {
        var template = Path.Combine(_root, "wal-template");
        var batches = WalBatches();
        await WriteWalAsync(template, batches);
        var segments = Directory.GetFiles(template, "*.wal").Order(StringComparer.Ordinal).ToArray();
        Assert.True(segments.Length >= 2, "the template WAL should span at least two segments");
        var expected = ExpectedStates(batches);
        var outcomes = new int[3];

        await Fuzz.RunAsync(400, async rng =>
        {
            var dir = Copy(template, Path.Combine(_root, $"wal-{rng.Next():x8}-{Guid.NewGuid():N}"));
            try
            {
                var what = DamageWal(rng, dir);
                WalOpenResult result;
                try
                {
                    result = WriteAheadLog.Open(dir, new WalOptions { SegmentSize = SegmentSize });
                }
                catch (WalCorruptionException e)
                {
                    Assert.Equal(dir, Path.GetDirectoryName(e.FilePath));
                    Assert.InRange(e.Offset, 0, new FileInfo(e.FilePath).Length);
                    Assert.Contains(e.FilePath, e.Message);
                    Assert.Contains($"offset {e.Offset}", e.Message);
                    outcomes[0]++;
                    return;
                }

                using (result.Log)
                {
                    var k = expected.FindIndex(s => s.HardState == result.HardState && s.Entries.SequenceEqual(result.Entries));
                    Assert.True(k >= 0, $"after {what} the WAL opened with hard state {result.HardState} and entries [{string.Join(", ", result.Entries)}], which no prefix of the writes left");
                    outcomes[result.TornTail is null ? 1 : 2]++;

                    // The cut log must take a new write and recover it cleanly.
                    var next = new Entry(result.HardState.Term + 1, result.LastIndex + 1, EntryType.Normal, "after"u8.ToArray());
                    await result.Log.SaveAsync(new HardState(result.HardState.Term + 1, 0, result.HardState.Commit), [next]);
                }

                var again = WriteAheadLog.Open(dir, new WalOptions { SegmentSize = SegmentSize });
                using (again.Log)
                {
                    Assert.Null(again.TornTail);
                    Assert.Equal(result.LastIndex + 1, again.LastIndex);
                    Assert.True(again.Entries.Take(result.Entries.Count).SequenceEqual(result.Entries), $"after {what}: reopening lost recovered entries");
                }
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        });

        // The budget must reach all three outcomes, else the mutations are too weak to test anything.
        Assert.True(outcomes.All(n => n > 0) || Fuzz.Iterations(400) < 100, $"outcomes (corrupt, clean, torn tail): {string.Join(", ", outcomes)}");
    }

    [Fact]
    public async Task A_damaged_snapshot_is_skipped_on_load_and_refused_on_install()
    {
        var template = Path.Combine(_root, "snap-template");
        var store = new SnapshotStore(template);
        var rng0 = new Random(7);
        var older = new Snapshot(new SnapshotMetadata(10, 1, new ConfState { Voters = [1, 2, 3] }), Mutator.RandomBytes(rng0, 3000));
        var newer = new Snapshot(new SnapshotMetadata(20, 2, new ConfState { Voters = [1, 2], Learners = [4], AutoLeave = true }), Mutator.RandomBytes(rng0, 5000));
        var olderPath = await store.SaveAsync(older.Metadata, older.Data);
        var newerPath = await store.SaveAsync(newer.Metadata, newer.Data);
        var olderBytes = await File.ReadAllBytesAsync(olderPath);
        var newerBytes = await File.ReadAllBytesAsync(newerPath);

        await Fuzz.RunAsync(400, async rng =>
        {
            var dir = Copy(template, Path.Combine(_root, $"snap-{rng.Next():x8}-{Guid.NewGuid():N}"));
            try
            {
                var newBytes = DamageFile(rng, newerBytes);
                var oldBytes = rng.Next(4) == 0 ? DamageFile(rng, olderBytes) : olderBytes;
                await File.WriteAllBytesAsync(Path.Combine(dir, Path.GetFileName(newerPath)), newBytes);
                await File.WriteAllBytesAsync(Path.Combine(dir, Path.GetFileName(olderPath)), oldBytes);
                var newIntact = newBytes.AsSpan().SequenceEqual(newerBytes);
                var oldIntact = oldBytes.AsSpan().SequenceEqual(olderBytes);

                var loaded = new SnapshotStore(dir).LoadLatest();
                var expected = newIntact ? newer : oldIntact ? older : null;
                Assert.Equal(expected?.Metadata, loaded.Snapshot?.Metadata);
                Assert.True(expected is null || expected.Data.Span.SequenceEqual(loaded.Snapshot!.Data.Span), "loaded snapshot data differs from what was saved");
                Assert.Equal((newIntact ? 0 : 1) + (newIntact || oldIntact ? 0 : 1), loaded.Skipped.Count);
                Assert.All(loaded.Skipped, s => Assert.False(string.IsNullOrWhiteSpace(s.Reason)));

                // The same bytes as a transfer from a leader, split into chunks at random points.
                var target = Path.Combine(dir, "install");
                var receiver = new SnapshotStore(target);
                try
                {
                    var installed = await receiver.InstallAsync(Chunks(rng, newBytes));
                    Assert.True(newIntact, $"a damaged transfer of {newBytes.Length} bytes was installed as {installed}");
                    Assert.Equal(newer.Metadata, installed);
                }
                catch (SnapshotCorruptException e)
                {
                    Assert.False(newIntact, $"an intact transfer was refused: {e.Message}");
                    Assert.Empty(Directory.GetFiles(target));
                }
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        });
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Chunks(Random rng, byte[] bytes)
    {
        var at = 0;
        while (at < bytes.Length)
        {
            var n = Math.Min(bytes.Length - at, 1 + rng.Next(2048));
            yield return bytes.AsMemory(at, n);
            at += n;
            await Task.Yield();
        }
    }

    private static byte[] DamageFile(Random rng, byte[] bytes) => rng.Next(4) switch
    {
        0 => bytes.AsSpan(0, rng.Next(bytes.Length)).ToArray(),
        1 => [.. bytes, .. Mutator.RandomBytes(rng, 1 + rng.Next(16))],
        _ => Mutator.Mutate(rng, bytes),
    };

    /// <summary>Six group-commit batches: two terms, an overwritten suffix, entries large enough to roll over into a second segment.</summary>
    private static List<(HardState HardState, Entry[] Entries)> WalBatches()
    {
        var rng = new Random(11);
        Entry E(ulong term, ulong index, int size) => new(term, index, EntryType.Normal, Mutator.RandomBytes(rng, size));
        return
        [
            (new HardState(1, 1, 0), [E(1, 1, 40), E(1, 2, 0), E(1, 3, 90)]),
            (new HardState(1, 1, 3), [E(1, 4, 200), E(1, 5, 33)]),
            (new HardState(2, 2, 3), [E(2, 6, 1500)]),
            (new HardState(3, 3, 5), [E(3, 6, 10), E(3, 7, 700), E(3, 8, 5)]),
            (HardState.Empty, [E(3, 9, 1200), E(3, 10, 1200)]),
            (new HardState(3, 3, 10), [E(3, 11, 64)]),
        ];
    }

    private static async Task WriteWalAsync(string dir, List<(HardState HardState, Entry[] Entries)> batches)
    {
        var opened = WriteAheadLog.Open(dir, new WalOptions { SegmentSize = SegmentSize });
        using var log = opened.Log;
        foreach (var (hs, entries) in batches)
        {
            await log.SaveAsync(hs, entries);
        }
    }

    /// <summary>What recovery may return after the first k batches, for k = 0..n.</summary>
    private static List<(HardState HardState, List<Entry> Entries)> ExpectedStates(List<(HardState HardState, Entry[] Entries)> batches)
    {
        var states = new List<(HardState, List<Entry>)> { (HardState.Empty, []) };
        var hs = HardState.Empty;
        var entries = new List<Entry>();
        foreach (var batch in batches)
        {
            hs = batch.HardState.IsEmpty ? hs : batch.HardState;
            foreach (var e in batch.Entries)
            {
                entries.RemoveAll(x => x.Index >= e.Index);
                entries.Add(e);
            }

            states.Add((hs, [.. entries]));
        }

        return states;
    }

    /// <summary>Damages one segment of the WAL in <paramref name="dir"/>; returns what it did, for failure messages.</summary>
    private static string DamageWal(Random rng, string dir)
    {
        var segments = Directory.GetFiles(dir, "*.wal").Order(StringComparer.Ordinal).ToArray();
        var which = rng.Next(3) == 0 ? rng.Next(segments.Length) : segments.Length - 1;
        var path = segments[which];
        var bytes = File.ReadAllBytes(path);
        var boundaries = RecordBoundaries(bytes);
        var end = boundaries[^1];
        var name = Path.GetFileName(path);
        switch (rng.Next(5))
        {
            case 0:
                {
                    // Truncate at or near a record boundary (inside the header, inside the previous record's padding).
                    var at = (int)Math.Clamp(boundaries[rng.Next(boundaries.Count)] + rng.Next(-9, 10), 0, bytes.Length);
                    File.WriteAllBytes(path, bytes.AsSpan(0, at).ToArray());
                    return $"truncating {name} at {at}";
                }

            case 1:
                {
                    // A torn write after the last record: random bytes, or the start of a copy of an earlier record.
                    var garbage = rng.Next(2) == 0
                        ? Mutator.RandomBytes(rng, 1 + rng.Next(200))
                        : bytes.AsSpan((int)boundaries[0], (int)Math.Min(end - boundaries[0], 1 + rng.Next(300))).ToArray();
                    garbage.CopyTo(bytes.AsSpan((int)Math.Min(end, bytes.Length - garbage.Length)));
                    File.WriteAllBytes(path, bytes);
                    return $"writing {garbage.Length} garbage bytes after the last record of {name}";
                }

            case 2:
                {
                    // One flipped bit inside the records.
                    var at = 40 + rng.Next((int)Math.Max(1, end - 40));
                    bytes[at] ^= (byte)(1 << rng.Next(8));
                    File.WriteAllBytes(path, bytes);
                    return $"flipping a bit at {at} of {name}";
                }

            default:
                {
                    var used = bytes.AsSpan(0, (int)Math.Min(bytes.Length, end + 64)).ToArray();
                    var mutated = Mutator.Mutate(rng, used);
                    File.WriteAllBytes(path, [.. mutated, .. bytes.AsSpan(used.Length)]);
                    return $"mutating {name} ({used.Length} bytes became {mutated.Length})";
                }
        }
    }

    /// <summary>
    /// Offsets of the records of an intact segment, and the end of the last one (docs/storage-wal.md:
    /// a 40-byte header, then records of u32 length, two checksums, u32 zero, payload padded to 8).
    /// </summary>
    private static List<long> RecordBoundaries(byte[] segment)
    {
        var offsets = new List<long>();
        long at = 40;
        while (at + 16 <= segment.Length)
        {
            offsets.Add(at);
            var length = BinaryPrimitives.ReadUInt32LittleEndian(segment.AsSpan((int)at));
            if (length == 0)
            {
                break;
            }

            at += 16 + ((length + 7) & ~7L);
        }

        return offsets;
    }

    private static string Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        return to;
    }
}
