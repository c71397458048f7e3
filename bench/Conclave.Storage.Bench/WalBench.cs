using System.Diagnostics;
using Conclave.Raft;
using Conclave.Storage.Internal;
using Conclave.Storage.Wal;
using HdrHistogram;
using Microsoft.Win32.SafeHandles;

namespace Conclave.Storage.Bench;

/// <summary>
/// The disk's raw sync rate, then WAL appends per second and latency with 1, 16 and 256
/// concurrent appenders of 256-byte entries. Group commit is what should make many appenders
/// much faster than one: they share each write and sync. Prints figures, asserts nothing.
/// </summary>
internal static class WalBench
{
    private const int EntrySize = 256;
    private static readonly TimeSpan PhaseDuration = TimeSpan.FromSeconds(3);

    public static async Task<int> RunAsync(string[] args)
    {
        var root = args.SkipWhile(a => a != "--dir").Skip(1).FirstOrDefault() ?? Path.GetTempPath();
        var dir = Path.Combine(root, $"conclave-walbench-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            Console.WriteLine($"wal benchmark in {dir} ({EntrySize}-byte entries, {PhaseDuration.TotalSeconds:0} s per phase)");
            RawSyncRate(dir, "fdatasync", DurableIo.SyncData, preallocate: false);
            RawSyncRate(dir, "fsync", RandomAccess.FlushToDisk, preallocate: false);
            RawSyncRate(dir, "fdatasync", DurableIo.SyncData, preallocate: true);

            var rates = new Dictionary<int, double>();
            foreach (var appenders in new[] { 1, 16, 256 })
            {
                rates[appenders] = await AppendPhaseAsync(Path.Combine(dir, $"wal-{appenders}"), appenders);
            }

            Console.WriteLine($"group commit gain: 256 appenders / 1 appender = {rates[256] / rates[1]:0.0}x");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Appending grows the file, so each sync also writes its size; the WAL writes into preallocated space instead.</summary>
    private static void RawSyncRate(string dir, string name, Action<SafeFileHandle> sync, bool preallocate)
    {
        var path = Path.Combine(dir, $"raw-{name}.dat");
        var block = new byte[EntrySize];
        Random.Shared.NextBytes(block);
        using (var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None, preallocate ? 64 << 20 : 0))
        {
            if (preallocate)
            {
                RandomAccess.SetLength(handle, 64 << 20);
                RandomAccess.FlushToDisk(handle);
            }

            var clock = Stopwatch.StartNew();
            long n = 0;
            while (clock.Elapsed < PhaseDuration)
            {
                RandomAccess.Write(handle, block, n * EntrySize);
                sync(handle);
                n++;
            }

            var file = preallocate ? "preallocated file" : "appended file";
            Console.WriteLine($"raw disk: write {EntrySize} B + {name,-9} ({file}): {n / clock.Elapsed.TotalSeconds,10:N0} /s");
        }

        File.Delete(path);
    }

    private static async Task<double> AppendPhaseAsync(string dir, int appenders)
    {
        var opened = WriteAheadLog.Open(dir, new WalOptions());
        using var log = opened.Log;
        var data = new byte[EntrySize];
        Random.Shared.NextBytes(data);
        var gate = new object();
        ulong next = 1;
        var histograms = new LongHistogram[appenders];
        var clock = Stopwatch.StartNew();
        var tasks = new Task[appenders];
        for (var a = 0; a < appenders; a++)
        {
            var histogram = histograms[a] = new LongHistogram(TimeStamp.Minutes(1), 3);
            tasks[a] = Task.Run(async () =>
            {
                while (clock.Elapsed < PhaseDuration)
                {
                    var start = Stopwatch.GetTimestamp();
                    ValueTask save;
                    lock (gate)
                    {
                        // Index allocation and queueing in one step keeps the log contiguous.
                        save = log.SaveAsync(new HardState(1, 1, next - 1), [new Entry(1, next, EntryType.Normal, data)]);
                        next++;
                    }

                    await save;
                    histogram.RecordValue(Stopwatch.GetTimestamp() - start);
                }
            });
        }

        await Task.WhenAll(tasks);
        var elapsed = clock.Elapsed.TotalSeconds;
        var all = new LongHistogram(TimeStamp.Minutes(1), 3);
        foreach (var h in histograms)
        {
            all.Add(h);
        }

        var count = all.TotalCount;
        var rate = count / elapsed;
        Console.WriteLine(
            $"wal {appenders,3} appender(s): {rate,10:N0} appends/s, {log.SyncCount,7:N0} syncs ({count / (double)Math.Max(1, log.SyncCount),6:0.0} appends/sync), "
            + $"latency p50 {Ms(all.GetValueAtPercentile(50)),7:0.000} ms, p99 {Ms(all.GetValueAtPercentile(99)),7:0.000} ms, max {Ms(all.GetMaxValue()),7:0.000} ms");
        return rate;
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
