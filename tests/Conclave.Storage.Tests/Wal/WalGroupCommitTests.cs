using Conclave.Raft;
using Conclave.Storage.Wal;
using static Conclave.Storage.Tests.Wal.WalTestKit;

namespace Conclave.Storage.Tests.Wal;

public class WalGroupCommitTests
{
    [Fact]
    public async Task Saves_queued_behind_a_sync_share_the_next_write_and_sync()
    {
        using var dir = new TempDir();
        var inFirstSync = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var releaseFirstSync = new ManualResetEventSlim(false);
        var failpoints = new CrashingFailpoints();
        failpoints.OnHit = point =>
        {
            if (point == WalFailpoint.BeforeFsync && inFirstSync.TrySetResult())
            {
                Assert.True(releaseFirstSync.Wait(TimeSpan.FromSeconds(30)), "the test never released the first sync");
            }
        };

        const int Saves = 200;
        var log = Open(dir.Path, SmallSegments(failpoints, segmentSize: 1 << 20)).Log;
        var first = log.SaveAsync(new HardState(1, 1, 0), Entries(1, 1, 1)).AsTask();
        await WithTimeout(inFirstSync.Task, "the writer to reach the first sync");

        // The writer is held inside the first sync: every save below waits in the queue.
        var rest = new List<Task>();
        for (ulong i = 2; i <= Saves; i++)
        {
            rest.Add(log.SaveAsync(new HardState(1, 1, i - 1), Entries(1, i, 1)).AsTask());
        }

        Assert.All(rest, t => Assert.False(t.IsCompleted, "a save completed before its data could have been synced"));
        releaseFirstSync.Set();
        await WithTimeout(Task.WhenAll(rest.Append(first)), "all saves to complete");
        Assert.Equal(2, failpoints.Hits(WalFailpoint.BeforeFsync));
        Assert.Equal(2, log.SyncCount);
        log.Dispose();

        var r = Reopen(dir.Path);
        Assert.Equal(Entries(1, 1, Saves), r.Entries);
        Assert.Equal(new HardState(1, 1, Saves - 1), r.HardState);
    }

    [Fact]
    public async Task Concurrent_saves_from_many_tasks_are_all_durable()
    {
        using var dir = new TempDir();
        const int Writers = 32;
        const int PerWriter = 50;
        var gate = new object();
        ulong next = 1;
        var log = Open(dir.Path, SmallSegments(segmentSize: 256 * 1024)).Log;
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (var k = 0; k < PerWriter; k++)
            {
                ValueTask save;
                lock (gate)
                {
                    // Index allocation and queueing in one step keeps the log contiguous.
                    save = log.SaveAsync(new HardState(1, 1, next - 1), Entries(1, next, 1, dataSize: 64));
                    next++;
                }

                await save;
            }
        })).ToArray();
        await WithTimeout(Task.WhenAll(writers), "all writers to finish");
        Assert.InRange(log.SyncCount, 1, Writers * PerWriter);
        log.Dispose();

        var r = Reopen(dir.Path, SmallSegments(segmentSize: 256 * 1024));
        Assert.Equal(Entries(1, 1, Writers * PerWriter, dataSize: 64), r.Entries);
        Assert.Equal(new HardState(1, 1, Writers * PerWriter - 1), r.HardState);
    }

    [Fact]
    public async Task An_invalid_save_in_a_batch_fails_alone()
    {
        using var dir = new TempDir();
        var inFirstSync = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim(false);
        var failpoints = new CrashingFailpoints
        {
            OnHit = point =>
            {
                if (point == WalFailpoint.BeforeFsync && inFirstSync.TrySetResult())
                {
                    Assert.True(release.Wait(TimeSpan.FromSeconds(30)), "the test never released the first sync");
                }
            },
        };
        var log = Open(dir.Path, SmallSegments(failpoints, segmentSize: 1 << 20)).Log;
        var first = log.SaveAsync(new HardState(1, 1, 0), Entries(1, 1, 1)).AsTask();
        await WithTimeout(inFirstSync.Task, "the writer to reach the first sync");
        var good1 = log.SaveAsync(new HardState(1, 1, 1), Entries(1, 2, 1)).AsTask();
        var bad = log.SaveAsync(new HardState(9, 9, 9), Entries(1, 9, 1)).AsTask();
        var good2 = log.SaveAsync(new HardState(1, 1, 2), Entries(1, 3, 1)).AsTask();
        release.Set();
        await WithTimeout(Task.WhenAll(first, good1, good2), "the valid saves to complete");
        await Assert.ThrowsAsync<ArgumentException>(() => bad);
        log.Dispose();

        var r = Reopen(dir.Path);
        Assert.Equal(Entries(1, 1, 3), r.Entries);
        Assert.Equal(new HardState(1, 1, 2), r.HardState);
    }

    [Fact]
    public async Task A_batch_is_split_at_the_largest_record_size()
    {
        using var dir = new TempDir();
        var inFirstSync = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim(false);
        var failpoints = new CrashingFailpoints
        {
            OnHit = point =>
            {
                if (point == WalFailpoint.BeforeFsync && inFirstSync.TrySetResult())
                {
                    Assert.True(release.Wait(TimeSpan.FromSeconds(30)), "the test never released the first sync");
                }
            },
        };
        var options = new WalOptions { SegmentSize = 1 << 20, MaxRecordSize = 4096, Failpoints = failpoints };
        var log = WriteAheadLog.Open(dir.Path, options).Log;
        var first = log.SaveAsync(new HardState(1, 1, 0), Entries(1, 1, 1)).AsTask();
        await WithTimeout(inFirstSync.Task, "the writer to reach the first sync");

        // Ten saves of about 1 KiB queue up: at most three fit in one 4 KiB record.
        var saves = Enumerable.Range(2, 10)
            .Select(i => log.SaveAsync(new HardState(1, 1, (ulong)i - 1), Entries(1, (ulong)i, 1, dataSize: 1000)).AsTask())
            .ToList();
        var tooBig = log.SaveAsync(HardState.Empty, Entries(1, 12, 1, dataSize: 5000)).AsTask();
        release.Set();
        await WithTimeout(Task.WhenAll(saves.Append(first)), "all saves to complete");
        await Assert.ThrowsAsync<ArgumentException>(() => tooBig);
        Assert.Equal(1 + 4, log.SyncCount);
        log.Dispose();

        var r = Reopen(dir.Path, new WalOptions { SegmentSize = 1 << 20, MaxRecordSize = 4096 });
        Assert.Equal([.. Entries(1, 1, 1), .. Enumerable.Range(2, 10).SelectMany(i => Entries(1, (ulong)i, 1, dataSize: 1000))], r.Entries);
        Assert.Equal(new HardState(1, 1, 10), r.HardState);
    }
}
