using System.Security.Cryptography;
using Conclave.Raft;
using Conclave.Storage.Wal;
using static Conclave.Storage.Tests.Wal.WalTestKit;

namespace Conclave.Storage.Tests.Wal;

public class WalRoundTripTests
{
    [Fact]
    public void A_new_directory_opens_empty()
    {
        using var dir = new TempDir();
        var r = Reopen(dir.Path);
        Assert.True(r.HardState.IsEmpty);
        Assert.Equal(default, r.Snapshot);
        Assert.Empty(r.Entries);
        Assert.Null(r.Torn);
        Assert.Single(SegmentFiles(dir.Path));
    }

    [Fact]
    public async Task Entries_and_hard_state_come_back_byte_for_byte()
    {
        using var dir = new TempDir();
        var rng = new Random(11);
        var written = new List<Entry>();
        HardState hs = default;
        using (var log = Open(dir.Path, SmallSegments(segmentSize: 64 * 1024)).Log)
        {
            ulong next = 1;
            for (var batch = 0; batch < 40; batch++)
            {
                var count = rng.Next(1, 6);
                var entries = new Entry[count];
                for (var i = 0; i < count; i++)
                {
                    var data = new byte[rng.Next(0, 700)];
                    rng.NextBytes(data);
                    entries[i] = new Entry((ulong)(batch / 10) + 1, next++, (EntryType)rng.Next(2), data);
                }

                hs = new HardState((ulong)(batch / 10) + 1, (ulong)rng.Next(1, 4), next - 2);
                await log.SaveAsync(hs, entries);
                written.AddRange(entries);
            }
        }

        var r = Reopen(dir.Path, SmallSegments(segmentSize: 64 * 1024));
        Assert.Equal(hs, r.HardState);
        Assert.Equal(written, r.Entries);
        Assert.Null(r.Torn);
    }

    [Fact]
    public async Task Opening_and_closing_does_not_change_the_files()
    {
        using var dir = new TempDir();
        using (var log = Open(dir.Path).Log)
        {
            for (ulong i = 1; i <= 30; i++)
            {
                await log.SaveAsync(new HardState(1, 1, i), Entries(1, i, 1, dataSize: 300));
            }
        }

        var before = Hashes(dir.Path);
        Assert.True(before.Count > 1, "expected several segments");
        Reopen(dir.Path);
        Reopen(dir.Path);
        Assert.Equal(before, Hashes(dir.Path));
    }

    [Fact]
    public async Task An_empty_hard_state_leaves_the_previous_one()
    {
        using var dir = new TempDir();
        using (var log = Open(dir.Path).Log)
        {
            await log.SaveAsync(new HardState(3, 2, 0), []);
            await log.SaveAsync(HardState.Empty, Entries(3, 1, 2));
        }

        var r = Reopen(dir.Path);
        Assert.Equal(new HardState(3, 2, 0), r.HardState);
        Assert.Equal(Entries(3, 1, 2), r.Entries);
    }

    [Fact]
    public async Task Segments_roll_over_and_all_are_read_back()
    {
        using var dir = new TempDir();
        var all = Entries(1, 1, 200, dataSize: 150);
        using (var log = Open(dir.Path).Log)
        {
            for (var i = 0; i < all.Length; i += 5)
            {
                await log.SaveAsync(new HardState(1, 1, (ulong)i), all[i..(i + 5)]);
            }
        }

        var files = SegmentFiles(dir.Path);
        Assert.True(files.Length >= 8, $"expected at least 8 segments of 4 KiB, got {files.Length}");
        Assert.False(File.Exists(Path.Combine(dir.Path, "next.wal.tmp")) && files.Length == 0);
        var r = Reopen(dir.Path);
        Assert.Equal(all, r.Entries);
        Assert.Equal(new HardState(1, 1, 195), r.HardState);
    }

    [Fact]
    public async Task A_batch_larger_than_a_segment_goes_into_one_segment()
    {
        using var dir = new TempDir();
        var big = Entries(1, 1, 3, dataSize: 10_000);
        using (var log = Open(dir.Path).Log)
        {
            await log.SaveAsync(new HardState(1, 0, 0), Entries(1, 1, 1));
            await log.SaveAsync(new HardState(1, 0, 1), big[1..]);
            await log.SaveAsync(new HardState(1, 0, 2), Entries(1, 4, 1));
        }

        var r = Reopen(dir.Path);
        Assert.Equal([.. Entries(1, 1, 1), .. big[1..], .. Entries(1, 4, 1)], r.Entries);
    }

    [Fact]
    public async Task A_conflicting_suffix_replaces_the_old_one_across_segments()
    {
        using var dir = new TempDir();
        using (var log = Open(dir.Path).Log)
        {
            var old = Entries(1, 1, 100, dataSize: 120);
            for (var i = 0; i < old.Length; i += 5)
            {
                await log.SaveAsync(new HardState(1, 1, 10), old[i..(i + 5)]);
            }

            Assert.True(SegmentFiles(dir.Path).Length > 2);

            // A new leader at term 2 overwrites from index 20: the old 20..100 spanned several segments.
            await log.SaveAsync(new HardState(2, 2, 10), Entries(2, 20, 5));
            await log.SaveAsync(new HardState(2, 2, 22), Entries(2, 25, 40, dataSize: 120));
        }

        var r = Reopen(dir.Path);
        Assert.Equal([.. Entries(1, 1, 19, dataSize: 120), .. Entries(2, 20, 5), .. Entries(2, 25, 40, dataSize: 120)], r.Entries);
        Assert.Equal(new HardState(2, 2, 22), r.HardState);

        // And again after the reopen, into the segment of the previous overwrite.
        using (var log = Open(dir.Path).Log)
        {
            await log.SaveAsync(new HardState(3, 3, 22), Entries(3, 23, 1));
        }

        r = Reopen(dir.Path);
        Assert.Equal([.. Entries(1, 1, 19, dataSize: 120), .. Entries(2, 20, 3), .. Entries(3, 23, 1)], r.Entries);
    }

    [Fact]
    public async Task Invalid_saves_fail_and_write_nothing()
    {
        using var dir = new TempDir();
        using (var log = Open(dir.Path).Log)
        {
            await log.SaveAsync(new HardState(1, 1, 0), Entries(1, 1, 5));
            await Assert.ThrowsAsync<ArgumentException>(async () => await log.SaveAsync(new HardState(9, 9, 9), Entries(1, 7, 1)));
            await Assert.ThrowsAsync<ArgumentException>(async () =>
                await log.SaveAsync(new HardState(9, 9, 9), [new Entry(1, 6), new Entry(1, 8)]));
            await log.SaveSnapshotMarkerAsync(3, 1);
            await Assert.ThrowsAsync<ArgumentException>(async () => await log.SaveAsync(new HardState(9, 9, 9), Entries(1, 3, 1)));
            await Assert.ThrowsAsync<ArgumentException>(async () => await log.SaveSnapshotMarkerAsync(2, 1));
            await log.SaveAsync(HardState.Empty, Entries(1, 6, 1));
        }

        var r = Reopen(dir.Path);
        Assert.Equal(new HardState(1, 1, 0), r.HardState);
        Assert.Equal(new WalSnapshotMarker(3, 1), r.Snapshot);
        Assert.Equal(Entries(1, 4, 3), r.Entries);
    }

    [Fact]
    public async Task A_snapshot_marker_hides_the_entries_it_covers()
    {
        using var dir = new TempDir();
        using (var log = Open(dir.Path).Log)
        {
            await log.SaveAsync(new HardState(1, 1, 10), Entries(1, 1, 10));
            await log.SaveSnapshotMarkerAsync(6, 1);
        }

        var r = Reopen(dir.Path);
        Assert.Equal(new WalSnapshotMarker(6, 1), r.Snapshot);
        Assert.Equal(Entries(1, 7, 4), r.Entries);

        // A snapshot from a leader far ahead: the log continues after it.
        using (var log = Open(dir.Path).Log)
        {
            await log.SaveSnapshotMarkerAsync(50, 3);
            await log.SaveAsync(new HardState(3, 0, 50), Entries(3, 51, 2));
        }

        r = Reopen(dir.Path);
        Assert.Equal(new WalSnapshotMarker(50, 3), r.Snapshot);
        Assert.Equal(Entries(3, 51, 2), r.Entries);
        Assert.Equal(new HardState(3, 0, 50), r.HardState);
    }

    [Fact]
    public async Task ReleaseTo_deletes_only_segments_a_snapshot_covers()
    {
        using var dir = new TempDir();
        var all = Entries(1, 1, 120, dataSize: 150);
        using (var log = Open(dir.Path).Log)
        {
            for (var i = 0; i < all.Length; i += 4)
            {
                await log.SaveAsync(new HardState(1, 1, (ulong)i), all[i..(i + 4)]);
            }

            await Assert.ThrowsAsync<ArgumentException>(async () => await log.ReleaseToAsync(60));
            var before = SegmentFiles(dir.Path);
            await log.SaveSnapshotMarkerAsync(60, 1);
            await log.ReleaseToAsync(60);
            var after = SegmentFiles(dir.Path);
            Assert.True(after.Length < before.Length, "expected segments to be deleted");
            Assert.Equal(before[^after.Length..], after);

            // Every deleted segment held only entries at or below 60: the next one starts at or below 61.
            WalFormat.TryParseSegmentName(Path.GetFileName(after[0]), out _, out var firstKept);
            Assert.True(firstKept <= 61, $"first kept segment starts at {firstKept}");
            if (after.Length > 1)
            {
                WalFormat.TryParseSegmentName(Path.GetFileName(after[1]), out _, out var second);
                Assert.True(second > 61, "a segment wholly covered by the snapshot was kept");
            }

            await log.SaveAsync(new HardState(2, 1, 100), Entries(2, 121, 3));
        }

        var r = Reopen(dir.Path);
        Assert.Equal(new WalSnapshotMarker(60, 1), r.Snapshot);
        Assert.Equal(new HardState(2, 1, 100), r.HardState);
        Assert.Equal([.. all[60..], .. Entries(2, 121, 3)], r.Entries);

        // Releasing everything keeps the last segment, and the state survives.
        using (var log = Open(dir.Path).Log)
        {
            await log.SaveSnapshotMarkerAsync(123, 2);
            await log.ReleaseToAsync(123);
        }

        Assert.Single(SegmentFiles(dir.Path));
        r = Reopen(dir.Path);
        Assert.Equal(new WalSnapshotMarker(123, 2), r.Snapshot);
        Assert.Equal(new HardState(2, 1, 100), r.HardState);
        Assert.Empty(r.Entries);
    }

    [Fact]
    public async Task A_second_instance_cannot_open_the_same_directory()
    {
        using var dir = new TempDir();
        var first = Open(dir.Path);
        try
        {
            Assert.ThrowsAny<IOException>(() => Open(dir.Path));
            await first.Log.SaveAsync(new HardState(1, 0, 0), []);
        }
        finally
        {
            first.Log.Dispose();
        }

        Reopen(dir.Path);
    }

    private static Dictionary<string, string> Hashes(string dir) =>
        Directory.GetFiles(dir, "*.wal").ToDictionary(p => Path.GetFileName(p), p => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))));
}
