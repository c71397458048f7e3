using System.Diagnostics;
using System.Text;
using Conclave.Storage.Mvcc;

namespace Conclave.Storage.Bench;

/// <summary>
/// MVCC store figures with 1 million keys (key/0000000 … key/0999999, 256-byte values):
/// puts per second (each a single etcd Put request: its own revision), single-key ranges per second,
/// 100-key prefix ranges per second, managed memory taken by the loaded store, and the longest
/// physical compaction step. Prints, asserts nothing. Options: --keys N (default 1000000).
/// </summary>
internal static class MvccBench
{
    // Wall-clock rate and rate per CPU-second of this process: on a shared, loaded machine the second
    // is the steadier figure.
    private static string Rate(long ops, Stopwatch wall, TimeSpan cpu) =>
        $"{ops / wall.Elapsed.TotalSeconds,12:N0} /s  ({ops / Math.Max(cpu.TotalSeconds, 1e-9),12:N0} per CPU-second)";

    private static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;

    public static Task<int> RunAsync(string[] args)
    {
        var keys = 1_000_000;
        for (var i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] == "--keys")
            {
                keys = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        var rng = new Random(1);
        var value = new byte[256];
        rng.NextBytes(value);
        var keyBytes = new byte[keys][];
        for (var i = 0; i < keys; i++)
        {
            keyBytes[i] = Encoding.ASCII.GetBytes($"key/{i:D7}");
        }

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var store = new MvccStore(new MvccStoreOptions { QuotaBytes = long.MaxValue });
        var cpu = Cpu();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < keys; i++)
        {
            store.Put(new PutRequest { Key = keyBytes[i], Value = value });
        }
        sw.Stop();
        Console.WriteLine($"mvcc put (one revision each, {keys:N0} new keys): {Rate(keys, sw, Cpu() - cpu)}");
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"mvcc managed memory for {keys:N0} keys x 256-byte values: {(after - before) / 1048576.0,8:N1} MiB " +
            $"({(after - before) / (double)keys:N0} bytes/key; before {before / 1048576.0:N1} MiB, after {after / 1048576.0:N1} MiB)");

        var ops = Math.Min(keys, 1_000_000);
        cpu = Cpu();
        sw.Restart();
        for (var i = 0; i < ops; i++)
        {
            var r = store.Range(RangeRequest.Single(keyBytes[rng.Next(keys)]));
            if (r.Kvs.Count != 1)
            {
                throw new InvalidOperationException("benchmark: key missing");
            }
        }
        sw.Stop();
        Console.WriteLine($"mvcc range single key:                          {Rate(ops, sw, Cpu() - cpu)}");

        var prefixes = Math.Max(1, keys / 100);
        var prefixOps = 20_000;
        cpu = Cpu();
        sw.Restart();
        for (var i = 0; i < prefixOps; i++)
        {
            var prefix = Encoding.ASCII.GetBytes($"key/{rng.Next(prefixes):D5}");
            var r = store.Range(RangeRequest.Prefix(prefix));
            if (r.Kvs.Count != Math.Min(100, keys))
            {
                throw new InvalidOperationException($"benchmark: prefix range returned {r.Kvs.Count}");
            }
        }
        sw.Stop();
        Console.WriteLine($"mvcc range prefix of 100 keys:                  {Rate(prefixOps, sw, Cpu() - cpu)}");

        // Overwrite every key once, compact at the current revision and time each bounded pruning step.
        for (var i = 0; i < keys; i++)
        {
            store.Put(new PutRequest { Key = keyBytes[i], Value = value });
        }
        store.Compact(store.CurrentRevision);
        var steps = 0;
        var longest = TimeSpan.Zero;
        var times = new List<double>();
        var gcs = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2);
        var total = Stopwatch.StartNew();
        while (true)
        {
            var step = Stopwatch.StartNew();
            var more = store.StepCompaction();
            step.Stop();
            steps++;
            times.Add(step.Elapsed.TotalMilliseconds);
            if (step.Elapsed > longest)
            {
                longest = step.Elapsed;
            }
            if (!more)
            {
                break;
            }
        }
        total.Stop();
        times.Sort();
        gcs = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2) - gcs;
        Console.WriteLine($"mvcc compaction of {keys:N0} superseded revisions: {steps:N0} steps of {store.Options.CompactionStepKeys} keys, " +
            $"median {times[times.Count / 2]:N2} ms, p99 {times[(int)(times.Count * 0.99)]:N2} ms, longest {longest.TotalMilliseconds:N2} ms " +
            $"(GCs meanwhile: {gcs}), total {total.Elapsed.TotalMilliseconds:N0} ms");
        GC.KeepAlive(store);
        return Task.FromResult(0);
    }
}
