using Conclave.Storage.Mvcc;
using static Conclave.Storage.Tests.Mvcc.MvccTestKit;

namespace Conclave.Storage.Tests.Mvcc;

/// <summary>
/// Readers on other threads while the writer commits and compacts. The invariant checked does not
/// depend on timing: every txn writes the same counter into all keys, so any consistent read sees
/// one value across all keys (and the revision's value), whatever interleaving happens.
/// </summary>
public sealed class MvccConcurrencyTests
{
    [Fact]
    public async Task Concurrent_readers_always_see_a_whole_revision()
    {
        const int keys = 300;
        var store = new MvccStore(new MvccStoreOptions { ReadChunkKeys = 16, CompactionStepKeys = 50 });
        void WriteAll(int counter)
        {
            using var txn = store.BeginWrite();
            for (var k = 0; k < keys; k++)
            {
                txn.Put(B($"k{k:D3}"), B(counter.ToString("D6")));
            }
            txn.Commit();
        }
        WriteAll(0);
        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var reads = 0;

        // Each reader checks at least 50 reads, however the threads get scheduled.
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            var mine = 0;
            while (!stop.IsCancellationRequested || mine < 50)
            {
                mine++;
                var r = store.Range(RangeRequest.Prefix(B("k")));
                if (r.Status == MvccStatus.Compacted)
                {
                    continue;
                }
                var values = r.Kvs.Select(kv => S(kv.Value)).Distinct().ToArray();
                if (r.Status != MvccStatus.Ok || r.Count != keys || values.Length != 1)
                {
                    lock (failures)
                    {
                        failures.Add($"{r.Status} count={r.Count} values={string.Join(",", values)}");
                    }
                }
                Interlocked.Increment(ref reads);
            }
        })).ToArray();

        for (var i = 1; i <= 300; i++)
        {
            WriteAll(i);
            if (i % 20 == 0)
            {
                Assert.Equal(MvccStatus.Ok, store.Compact(store.CurrentRevision - 1));
            }
        }
        stop.Cancel();
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(reads >= 150, $"expected at least 150 checked reads, got {reads}");
        Assert.Empty(failures);
        Assert.Equal("000300", S(store.Get("k000")!.Value));
    }
}
