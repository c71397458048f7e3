using Conclave.Api.Etcd.Protocol;
using Conclave.Bench.Workloads;
using Conclave.Testing.Etcd;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Conclave.Bench.Tests;

/// <summary>
/// Each workload, run briefly through the command line against one real etcd, with its JSON
/// report checked against what etcd itself then holds. Tests of this class share the etcd and
/// run one at a time, so revision differences count exactly the writes of one run; each uses
/// its own key prefix.
/// </summary>
public sealed class WorkloadTests(LazyRealEtcdFixture fixture) : IClassFixture<LazyRealEtcdFixture>
{
    [EtcdBinaryFact]
    public async Task Put_writes_every_key_of_a_sequential_key_space_once_per_operation()
    {
        var etcd = await fixture.GetAsync();
        var before = await RevisionAsync(etcd);

        var report = await Cli.BenchJsonAsync("put", "--endpoints", etcd.Endpoint, "--total", "200", "--clients", "4", "--conns", "2",
            "--key-prefix", "t-put/", "--key-size", "12", "--val-size", "32", "--key-space-size", "50", "--sequential-keys");

        var put = AssertOnlySeries(report, "put", expectedCount: 200);
        Assert.True(put.LatencyMs.P50 > 0 && put.LatencyMs.P50 <= put.LatencyMs.P99 && put.LatencyMs.P99 <= put.LatencyMs.Max, $"percentiles out of order: {put.LatencyMs}");
        Assert.True(put.OpsPerSecond > 0);
        Assert.Equal(200, await RevisionAsync(etcd) - before);
        var keys = await RangePrefixAsync(etcd, "t-put/");
        Assert.Equal(50, keys.Count);
        Assert.All(keys, kv => Assert.Equal(12, kv.Key.Length));
        Assert.All(keys, kv => Assert.Equal(32, kv.Value.Length));
        Assert.Equal("t-put/000000", keys[0].Key.ToStringUtf8());
        Assert.Equal("t-put/000049", keys[^1].Key.ToStringUtf8());
    }

    [EtcdBinaryFact]
    public async Task Range_reads_without_writing()
    {
        var etcd = await fixture.GetAsync();
        await Cli.BenchJsonAsync("put", "--endpoints", etcd.Endpoint, "--total", "20", "--key-prefix", "t-range/", "--key-space-size", "20", "--sequential-keys");
        var before = await RevisionAsync(etcd);

        var linearizable = await Cli.BenchJsonAsync("range", "--endpoints", etcd.Endpoint, "--total", "100", "--clients", "2", "--key", "t-range/", "--prefix");
        var serializable = await Cli.BenchJsonAsync("range", "--endpoints", etcd.Endpoint, "--total", "50", "--key", "t-range/00000000", "--consistency", "s");

        AssertOnlySeries(linearizable, "range", expectedCount: 100);
        Assert.Equal("send", linearizable.LatencyFrom);
        AssertOnlySeries(serializable, "range", expectedCount: 50);
        Assert.Equal("s", serializable.Parameters["consistency"]);
        Assert.Equal(before, await RevisionAsync(etcd));
    }

    [EtcdBinaryFact]
    public async Task Txn_put_writes_its_ops_at_one_revision_per_transaction()
    {
        var etcd = await fixture.GetAsync();
        var before = await RevisionAsync(etcd);

        var report = await Cli.BenchJsonAsync("txn-put", "--endpoints", etcd.Endpoint, "--total", "60", "--clients", "3",
            "--key-prefix", "t-txn/", "--txn-ops", "3", "--key-space-size", "30", "--sequential-keys");

        AssertOnlySeries(report, "txn-put", expectedCount: 60);
        Assert.Equal(60, await RevisionAsync(etcd) - before);
        var keys = await RangePrefixAsync(etcd, "t-txn/");
        Assert.Equal(30, keys.Count);
        // Txn n puts keys n, n+1, n+2 (mod 30): 180 puts spread evenly, 6 per key.
        Assert.All(keys, kv => Assert.Equal(6, kv.Version));
    }

    [EtcdBinaryFact]
    public async Task Watch_delivers_every_put_to_every_watcher()
    {
        var etcd = await fixture.GetAsync();

        var report = await Cli.BenchJsonAsync("watch", "--endpoints", etcd.Endpoint, "--total", "50", "--clients", "2", "--conns", "2",
            "--watchers", "6", "--streams", "3", "--put-rate", "500", "--key-prefix", "t-watch/", "--key-space-size", "5");

        Assert.Equal(["put", "event"], report.Series.Select(s => s.Name));
        Assert.All(report.Series, s => Assert.True(s.ErrorCount == 0, $"{s.Name} errors: {string.Join(", ", s.Errors)} {string.Join(" | ", s.ErrorMessages)}"));
        Assert.Equal(50, report.Series[0].Count);
        Assert.Equal(50 * 6, report.Series[1].Count);
        Assert.True(report.Series[1].LatencyMs.Max > 0);
        Assert.Equal(500, report.Rate);
    }

    [EtcdBinaryFact]
    public async Task Lease_keepalive_renews_and_revokes_its_leases()
    {
        var etcd = await fixture.GetAsync();

        var report = await Cli.BenchJsonAsync("lease-keepalive", "--endpoints", etcd.Endpoint, "--total", "100", "--clients", "3", "--lease-ttl", "30");

        AssertOnlySeries(report, "keepalive", expectedCount: 100);
        Assert.Empty(await LeasesAsync(etcd));
    }

    [EtcdBinaryFact]
    public async Task Lock_grants_the_mutex_to_one_client_at_a_time_and_cleans_up()
    {
        var etcd = await fixture.GetAsync();

        var report = await Cli.BenchJsonAsync("lock", "--endpoints", etcd.Endpoint, "--total", "30", "--clients", "3", "--conns", "2", "--lock-name", "t-lock/mutex");

        // A LockOverlap error would mean two clients held the mutex at once.
        AssertOnlySeries(report, "lock-unlock", expectedCount: 30);
        Assert.Empty(await RangePrefixAsync(etcd, "t-lock/"));
        Assert.Empty(await LeasesAsync(etcd));
    }

    [EtcdBinaryFact]
    public async Task Mixed_splits_operations_into_reads_and_writes()
    {
        var etcd = await fixture.GetAsync();
        var before = await RevisionAsync(etcd);

        var report = await Cli.BenchJsonAsync("mixed", "--endpoints", etcd.Endpoint, "--total", "200", "--clients", "2",
            "--read-ratio", "0.5", "--key-prefix", "t-mixed/", "--key-space-size", "10", "--seed", "7");

        Assert.Equal(["read", "write"], report.Series.Select(s => s.Name));
        Assert.All(report.Series, s => Assert.True(s.ErrorCount == 0, $"{s.Name} errors: {string.Join(", ", s.Errors)}"));
        var (reads, writes) = (report.Series[0].Count, report.Series[1].Count);
        Assert.Equal(200, reads + writes);
        Assert.True(reads > 0 && writes > 0, $"a 0.5 read ratio gave {reads} reads and {writes} writes");
        Assert.Equal(writes, await RevisionAsync(etcd) - before);
    }

    [EtcdBinaryFact]
    public async Task A_duration_bound_run_stops_by_itself()
    {
        var etcd = await fixture.GetAsync();

        var report = await Cli.BenchJsonAsync("put", "--endpoints", etcd.Endpoint, "--duration", "1s", "--rate", "50", "--clients", "2", "--key-prefix", "t-duration/");

        var put = AssertOnlySeries(report, "put", expectedCount: null);
        Assert.True(put.Count > 0, "no operation completed in 1 s");
        Assert.Null(report.Total);
        Assert.Equal(1, report.DurationSeconds);
        Assert.Equal("schedule", report.LatencyFrom);
        Assert.False(report.Interrupted);
    }

    [EtcdBinaryFact]
    public async Task Cancelling_a_run_stops_it_and_reports_what_completed()
    {
        var etcd = await fixture.GetAsync();
        var settings = new BenchSettings { Endpoints = [etcd.Endpoint], Clients = 3, Duration = TimeSpan.FromMinutes(10) };
        var workload = new SignallingWorkload(new PutWorkload(new KeySpace("t-cancel/", 16, 100, sequential: false), 8, seed: 1), signalAfter: 20);
        using var abort = new CancellationTokenSource();

        var run = new BenchRunner(settings, workload).RunAsync(abort.Token);
        await workload.Reached.WaitAsync(Cli.RunTimeout);
        await abort.CancelAsync();
        var report = await run.WaitAsync(Cli.RunTimeout);

        Assert.True(report.Interrupted);
        var put = Assert.Single(report.Series);
        Assert.True(put.Count >= 20, $"20 operations had completed before the cancel, the report counts {put.Count}");
        Assert.True(put.ErrorCount == 0, $"operations cancelled in flight must not count as errors: {string.Join(", ", put.Errors)}");
    }

    [EtcdBinaryFact]
    public async Task Interrupting_the_command_prints_the_partial_report_and_exits_130()
    {
        var etcd = await fixture.GetAsync();
        using var channel = GrpcChannel.ForAddress(etcd.ClientUrl);
        using var watch = new Watch.WatchClient(channel).Watch();
        var prefix = ByteString.CopyFromUtf8("t-interrupt/");
        await watch.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = prefix, RangeEnd = KeySpace.PrefixEnd(prefix) } });
        using var interrupt = new CancellationTokenSource();
        var output = new StringWriter();
        var error = new StringWriter();

        var run = Program.InvokeAsync(
            ["bench", "put", "--endpoints", etcd.Endpoint, "--duration", "10m", "--key-prefix", "t-interrupt/", "--output", "json", "--no-progress"],
            new System.CommandLine.InvocationConfiguration { Output = output, Error = error },
            interrupt.Token);
        // One client puts one at a time, so when the watch sees the second put, the first one's
        // response has been received and recorded: interrupt now, as Ctrl-C would.
        await EventsAsync(watch, 2).WaitAsync(Cli.RunTimeout);
        await interrupt.CancelAsync();
        var exitCode = await run.WaitAsync(Cli.RunTimeout);

        Assert.True(exitCode == 130, $"exit {exitCode}, stderr: {error}");
        var report = System.Text.Json.JsonSerializer.Deserialize(output.ToString(), BenchJsonContext.Default.BenchReport)!;
        Assert.True(report.Interrupted);
        Assert.True(report.Series[0].Count >= 1, "the first put completed before the interrupt but is not counted");
        Assert.Equal(0, report.Series[0].ErrorCount);
    }

    private static async Task EventsAsync(Grpc.Core.AsyncDuplexStreamingCall<WatchRequest, WatchResponse> watch, int count)
    {
        var seen = 0;
        while (await watch.ResponseStream.MoveNext(CancellationToken.None))
        {
            seen += watch.ResponseStream.Current.Events.Count;
            if (seen >= count)
            {
                return;
            }
        }
        throw new InvalidOperationException($"the watch ended after {seen} of {count} events");
    }

    private static SeriesReport AssertOnlySeries(BenchReport report, string name, long? expectedCount)
    {
        var series = Assert.Single(report.Series);
        Assert.Equal(name, series.Name);
        Assert.True(series.ErrorCount == 0 && series.Errors.Count == 0,
            $"{name} errors: {string.Join(", ", series.Errors)} {string.Join(" | ", series.ErrorMessages)}");
        if (expectedCount is { } count)
        {
            Assert.Equal(count, series.Count);
            Assert.Equal(count, report.Total);
        }
        Assert.False(report.Interrupted);
        return series;
    }

    private static async Task<long> RevisionAsync(RealEtcd etcd)
    {
        using var channel = GrpcChannel.ForAddress(etcd.ClientUrl);
        var response = await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("t-revision"), CountOnly = true });
        return response.Header.Revision;
    }

    private static async Task<IReadOnlyList<Api.Etcd.Protocol.MvccPb.KeyValue>> RangePrefixAsync(RealEtcd etcd, string prefix)
    {
        using var channel = GrpcChannel.ForAddress(etcd.ClientUrl);
        var key = ByteString.CopyFromUtf8(prefix);
        var response = await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = key, RangeEnd = KeySpace.PrefixEnd(key) });
        return response.Kvs;
    }

    private static async Task<IReadOnlyList<long>> LeasesAsync(RealEtcd etcd)
    {
        using var channel = GrpcChannel.ForAddress(etcd.ClientUrl);
        var response = await new Lease.LeaseClient(channel).LeaseLeasesAsync(new LeaseLeasesRequest());
        return response.Leases.Select(l => l.ID).ToList();
    }

    /// <summary>Passes through to <paramref name="inner"/>; <see cref="Reached"/> completes once <paramref name="signalAfter"/> operations have returned.</summary>
    private sealed class SignallingWorkload(IWorkload inner, int signalAfter) : IWorkload
    {
        private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _returned;

        public Task Reached => _reached.Task;

        public string Name => inner.Name;

        public IReadOnlyList<string> OperationSeries => inner.OperationSeries;

        public IReadOnlyDictionary<string, string> Parameters => inner.Parameters;

        public Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken) => inner.SetupAsync(connections, cancellationToken);

        public BenchClient CreateClient(int index, BenchConnections connections) => new Client(this, inner.CreateClient(index, connections));

        public Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken) =>
            inner.FinishAsync(operations, cancellationToken);

        private sealed class Client(SignallingWorkload workload, BenchClient inner) : BenchClient
        {
            public override Task StartAsync(CancellationToken cancellationToken) => inner.StartAsync(cancellationToken);

            public override int NextSeries() => inner.NextSeries();

            public override async Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken)
            {
                await inner.ExecuteAsync(series, operation, cancellationToken);
                if (Interlocked.Increment(ref workload._returned) == workload.SignalAfter)
                {
                    workload._reached.TrySetResult();
                }
            }

            public override async ValueTask DisposeAsync()
            {
                await inner.DisposeAsync();
                await base.DisposeAsync();
            }
        }

        private int SignalAfter => signalAfter;
    }
}
