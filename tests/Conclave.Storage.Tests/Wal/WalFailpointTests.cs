using Conclave.Raft;
using Conclave.Storage.Wal;
using static Conclave.Storage.Tests.Wal.WalTestKit;

namespace Conclave.Storage.Tests.Wal;

/// <summary>
/// Each test "crashes" the log at a failpoint during one save, abandons it, and reopens: the save
/// must be recovered wholly (entries and hard state) or not at all, and the log must keep working.
/// </summary>
public class WalFailpointTests
{
    public static TheoryData<string, bool, bool, bool> Points => new()
    {
        // point, save needs a new segment, expect the save recovered, expect a torn tail reported
        { nameof(WalFailpoint.BeforeWrite), false, false, false },
        { nameof(WalFailpoint.MidRecord), false, false, true },
        { nameof(WalFailpoint.BeforeFsync), false, true, false },
        { nameof(WalFailpoint.AfterFsync), false, true, false },
        { nameof(WalFailpoint.BeforeWrite), true, false, false },
        { nameof(WalFailpoint.MidRecord), true, false, false },
        { nameof(WalFailpoint.BeforeFsync), true, false, false },
        { nameof(WalFailpoint.MidSegmentRollover), true, false, false },
        { nameof(WalFailpoint.AfterSegmentRename), true, true, false },
        { nameof(WalFailpoint.AfterFsync), true, true, false },
    };

    [Theory]
    [MemberData(nameof(Points))]
    public async Task A_crash_at_a_failpoint_keeps_or_drops_the_whole_save(string pointName, bool rollover, bool recovered, bool torn)
    {
        var point = Enum.Parse<WalFailpoint>(pointName);
        using var dir = new TempDir();
        var failpoints = new CrashingFailpoints();
        var options = SmallSegments(failpoints);
        var before = Entries(1, 1, 5, dataSize: 200);
        var crashing = Entries(2, 6, rollover ? 15 : 1, dataSize: 200);
        var log = Open(dir.Path, options).Log;
        await log.SaveAsync(new HardState(1, 1, 5), before);
        var segmentsBefore = SegmentFiles(dir.Path).Length;

        failpoints.Arm(point);
        var crash = await Assert.ThrowsAsync<SimulatedCrashException>(async () => await log.SaveAsync(new HardState(2, 2, 6), crashing));
        Assert.Contains(pointName, crash.Message);
        await Assert.ThrowsAsync<SimulatedCrashException>(async () => await log.SaveAsync(new HardState(2, 2, 7), Entries(2, 7, 1)));
        log.Dispose();
        Assert.Equal(rollover && recovered ? segmentsBefore + 1 : segmentsBefore, SegmentFiles(dir.Path).Length);

        var r = Reopen(dir.Path);
        if (recovered)
        {
            Assert.Equal(new HardState(2, 2, 6), r.HardState);
            Assert.Equal([.. before, .. crashing], r.Entries);
        }
        else
        {
            Assert.Equal(new HardState(1, 1, 5), r.HardState);
            Assert.Equal(before, r.Entries);
        }

        Assert.Equal(torn, r.Torn is not null);
        Assert.False(File.Exists(Path.Combine(dir.Path, "next.wal.tmp")) && !Directory.GetFiles(dir.Path, "*.wal").Any());

        // The log keeps working after recovery, including over the cut-off tail.
        var next = r.Entries[^1].Index + 1;
        using (var again = Open(dir.Path).Log)
        {
            await again.SaveAsync(new HardState(3, 3, next), Entries(3, next, 3));
        }

        var after = Reopen(dir.Path);
        Assert.Equal([.. r.Entries, .. Entries(3, next, 3)], after.Entries);
        Assert.Equal(new HardState(3, 3, next), after.HardState);
        Assert.Null(after.Torn);
    }

    [Fact]
    public async Task A_write_lost_before_its_sync_is_a_torn_tail()
    {
        using var dir = new TempDir();
        var failpoints = new CrashingFailpoints();
        var log = Open(dir.Path, SmallSegments(failpoints)).Log;
        await log.SaveAsync(new HardState(1, 1, 2), Entries(1, 1, 2));
        var path = SegmentFiles(dir.Path)[^1];
        var end = RecordOffsets(path).End;

        failpoints.Arm(WalFailpoint.BeforeFsync);
        await Assert.ThrowsAsync<SimulatedCrashException>(async () => await log.SaveAsync(new HardState(1, 1, 3), Entries(1, 3, 4)));
        log.Dispose();

        // Power loss: the page cache kept only the record's first 100 bytes.
        var newEnd = RecordOffsets(path).End;
        Assert.True(newEnd > end + 100);
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            f.Position = end + 100;
            f.Write(new byte[newEnd - end - 100]);
        }

        var r = Reopen(dir.Path);
        Assert.Equal(new HardState(1, 1, 2), r.HardState);
        Assert.Equal(Entries(1, 1, 2), r.Entries);
        Assert.Equal(new WalTornTail(path, end, 100), r.Torn);
    }

    [Fact]
    public async Task A_crash_before_release_deletes_nothing_and_release_can_be_repeated()
    {
        using var dir = new TempDir();
        var failpoints = new CrashingFailpoints();
        var log = Open(dir.Path, SmallSegments(failpoints)).Log;
        var all = Entries(1, 1, 60, dataSize: 200);
        for (var i = 0; i < all.Length; i += 3)
        {
            await log.SaveAsync(new HardState(1, 1, (ulong)i), all[i..(i + 3)]);
        }

        await log.SaveSnapshotMarkerAsync(40, 1);
        var files = SegmentFiles(dir.Path);
        failpoints.Arm(WalFailpoint.BeforeRelease);
        await Assert.ThrowsAsync<SimulatedCrashException>(async () => await log.ReleaseToAsync(40));
        log.Dispose();
        Assert.Equal(files, SegmentFiles(dir.Path));

        var r = Reopen(dir.Path);
        Assert.Equal(all[40..], r.Entries);
        using (var again = Open(dir.Path).Log)
        {
            await again.ReleaseToAsync(40);
        }

        Assert.True(SegmentFiles(dir.Path).Length < files.Length);
        Assert.Equal(all[40..], Reopen(dir.Path).Entries);
    }
}
