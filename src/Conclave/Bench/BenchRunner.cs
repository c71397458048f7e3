using System.Diagnostics;
using Conclave.Api.Etcd.Protocol;
using Conclave.Bench.Workloads;
using Google.Protobuf;
using Grpc.Core;

namespace Conclave.Bench;

/// <summary>
/// Runs one workload: checks every endpoint answers, sets up, starts the load clients
/// together, stops issuing operations when <see cref="BenchSettings.Total"/> operations were
/// issued or <see cref="BenchSettings.Duration"/> has passed (operations in flight then
/// complete and count), and reports.
/// Cancelling the token passed to <see cref="RunAsync"/> (Ctrl-C) aborts operations in flight;
/// they are not counted and the report says <see cref="BenchReport.Interrupted"/>.
/// </summary>
public sealed class BenchRunner(BenchSettings settings, IWorkload workload)
{
    /// <summary>How long the endpoint check and the per-client start may take, each.</summary>
    public static readonly TimeSpan SetupTimeout = TimeSpan.FromSeconds(15);

    private long _issued;
    private long _completed;
    private long _startTimestamp;
    private long _endTimestamp;

    /// <summary>Operations completed (successes and errors) so far; for progress display.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Time since the load clients started; zero before.</summary>
    public TimeSpan Elapsed
    {
        get
        {
            var start = Interlocked.Read(ref _startTimestamp);
            if (start == 0)
            {
                return TimeSpan.Zero;
            }
            var end = Interlocked.Read(ref _endTimestamp);
            return Stopwatch.GetElapsedTime(start, end == 0 ? Stopwatch.GetTimestamp() : end);
        }
    }

    /// <exception cref="BenchSetupException">An endpoint did not answer, or setup failed.</exception>
    public async Task<BenchReport> RunAsync(CancellationToken abort)
    {
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var pauseBefore = GC.GetTotalPauseDuration();
        int[] collectionsBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];

        using var connections = new BenchConnections(settings.Endpoints, settings.Conns);
        await CheckEndpointsAsync(connections, abort);
        try
        {
            await workload.SetupAsync(connections, abort);
        }
        catch (RpcException e) when (!abort.IsCancellationRequested)
        {
            throw new BenchSetupException($"bench: {workload.Name} setup failed: {e.StatusCode}: {e.Status.Detail}", e);
        }
        catch (TimeoutException e)
        {
            throw new BenchSetupException($"bench: {workload.Name} setup did not finish within {SetupTimeout.TotalSeconds:0} s", e);
        }

        var series = workload.OperationSeries.Select(name => new SeriesRecorder(name)).ToArray();
        var clients = new List<BenchClient>(settings.Clients);
        IReadOnlyList<SeriesRecorder> extra = [];
        try
        {
            for (var i = 0; i < settings.Clients; i++)
            {
                clients.Add(workload.CreateClient(i, connections));
            }
            try
            {
                using var startTimeout = CancellationTokenSource.CreateLinkedTokenSource(abort);
                startTimeout.CancelAfter(SetupTimeout);
                await Task.WhenAll(clients.Select(c => c.StartAsync(startTimeout.Token)));
            }
            catch (RpcException e) when (!abort.IsCancellationRequested)
            {
                throw new BenchSetupException($"bench: {workload.Name} client start failed: {e.StatusCode}: {e.Status.Detail}", e);
            }
            catch (OperationCanceledException e) when (!abort.IsCancellationRequested)
            {
                throw new BenchSetupException($"bench: {workload.Name} clients did not start within {SetupTimeout.TotalSeconds:0} s", e);
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(abort);
            var start = Stopwatch.GetTimestamp();
            var pacer = settings.Rate is { } rate ? new Pacer(rate, start) : null;
            Interlocked.Exchange(ref _startTimestamp, start);
            if (settings.Duration is { } duration)
            {
                stop.CancelAfter(duration);
            }
            await Task.WhenAll(clients.Select(c => Task.Run(() => RunClientAsync(c, series, pacer, stop.Token, abort))));
            Interlocked.Exchange(ref _endTimestamp, Stopwatch.GetTimestamp());
            extra = await workload.FinishAsync(series, abort);
        }
        finally
        {
            await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        }

        var elapsed = Elapsed;
        process.Refresh();
        return new BenchReport(
            workload.Name,
            settings.Endpoints,
            settings.Clients,
            settings.Conns,
            settings.Total,
            settings.Duration?.TotalSeconds,
            settings.Rate,
            settings.Rate is null ? "send" : "schedule",
            Math.Round(elapsed.TotalSeconds, 3),
            abort.IsCancellationRequested,
            series.Concat(extra).Select(s => s.Report(elapsed)).ToList(),
            workload.Parameters,
            new ClientReport(
                Math.Round((process.TotalProcessorTime - cpuBefore).TotalSeconds, 2),
                Math.Round((GC.GetTotalPauseDuration() - pauseBefore).TotalMilliseconds, 1),
                GC.CollectionCount(0) - collectionsBefore[0],
                GC.CollectionCount(1) - collectionsBefore[1],
                GC.CollectionCount(2) - collectionsBefore[2]));
    }

    private async Task RunClientAsync(BenchClient client, SeriesRecorder[] series, Pacer? pacer, CancellationToken stop, CancellationToken abort)
    {
        while (!stop.IsCancellationRequested)
        {
            var operation = Interlocked.Increment(ref _issued) - 1;
            if (settings.Total is { } total && operation >= total)
            {
                return;
            }
            if (pacer is not null)
            {
                var delay = pacer.Delay(operation, Stopwatch.GetTimestamp());
                if (delay > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(delay, stop);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
            var index = client.NextSeries();
            // Paced runs measure from the scheduled start, so time an operation spent waiting for
            // a client that fell behind counts (no coordinated omission); others from the send.
            var started = Stopwatch.GetTimestamp();
            if (pacer is not null)
            {
                started = Math.Min(started, pacer.DueTimestamp(operation));
            }
            try
            {
                await client.ExecuteAsync(index, operation, abort);
                series[index].Record(started, Stopwatch.GetTimestamp());
            }
            catch (Exception e) when (abort.IsCancellationRequested && e is RpcException or OperationCanceledException)
            {
                return;
            }
            catch (RpcException e)
            {
                series[index].Error(e.StatusCode.ToString(), e.Status.Detail);
            }
            catch (BenchOperationException e)
            {
                series[index].Error(e.Code, e.Message);
            }
            Interlocked.Increment(ref _completed);
        }
    }

    /// <summary>One linearizable Range per channel: fails fast, with the endpoint named, when a member is down or has no leader.</summary>
    private static async Task CheckEndpointsAsync(BenchConnections connections, CancellationToken abort)
    {
        var checks = Enumerable.Range(0, connections.Count).Select(async i =>
        {
            var kv = new KV.KVClient(connections[i]);
            try
            {
                await kv.RangeAsync(
                    new RangeRequest { Key = ByteString.CopyFromUtf8("health"), Limit = 1, CountOnly = true },
                    deadline: DateTime.UtcNow + SetupTimeout,
                    cancellationToken: abort);
            }
            catch (RpcException e) when (!abort.IsCancellationRequested)
            {
                throw new BenchSetupException($"bench: {connections.EndpointOf(i)} did not answer a Range: {e.StatusCode}: {e.Status.Detail}", e);
            }
        });
        await Task.WhenAll(checks);
    }
}

/// <summary>The run could not start: an endpoint is unreachable or the workload's setup failed.</summary>
public sealed class BenchSetupException(string message, Exception inner) : Exception(message, inner);
