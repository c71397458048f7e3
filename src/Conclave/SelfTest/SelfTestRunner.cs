using System.Diagnostics;
using Conclave.Api.Etcd.Protocol;
using Conclave.Verification.Checking;
using Conclave.Verification.Linearizability;
using Conclave.Verification.Workload;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.SelfTest;

/// <summary>
/// One bounded self-test of a live etcd v3 cluster (Conclave or etcd), in phases:
/// <list type="number">
/// <item>probe: a linearizable count of the prefix on every endpoint. None answers: UNREACHABLE. The prefix holds keys: PREFIX IN USE (nothing is written);</item>
/// <item>load, for <see cref="SelfTestSettings.Duration"/>: <see cref="KvWorkload"/> clients (gets, puts, compare-and-swaps, deletes on "{prefix}k{i}"),
/// two <see cref="WatchRecorder"/>s on the prefix from the probe's revision + 1 (one is made to reconnect halfway), and one lease round
/// (grant, put "{prefix}lease" with the lease, read it, revoke, read it gone);</item>
/// <item>a final linearizable read of every key, then a put of "{prefix}fence": its revision ends the history. A fresh watch from the start
/// revision up to the fence is the reference event history; each watcher must have seen exactly it;</item>
/// <item>check with <see cref="HistoryChecker"/> (durability, linearizability per key with a step budget, watch delivery);</item>
/// <item>cleanup, always (also after a failure or Ctrl-C): delete the prefix, revoke the leases it granted, count what is left.</item>
/// </list>
/// It reads and writes only keys under the prefix.
/// </summary>
public sealed class SelfTestRunner(SelfTestSettings settings, Action<string>? progress = null)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CatchUpTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Cleanup gets this long in all; the executable allows 10 s after Ctrl-C.</summary>
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(8);

    private readonly Action<string> _progress = progress ?? (_ => { });
    private readonly List<long> _leases = [];
    private readonly Lock _lock = new();

    private ByteString PrefixKey => ByteString.CopyFromUtf8(settings.Prefix);

    private ByteString PrefixEnd => ByteString.CopyFromUtf8(settings.Prefix[..^1] + (char)(settings.Prefix[^1] + 1));

    /// <summary>Never throws for what the cluster does; <paramref name="cancellationToken"/> (Ctrl-C) gives an INTERRUPTED report after cleanup.</summary>
    public async Task<SelfTestReport> RunAsync(CancellationToken cancellationToken)
    {
        var elapsed = Stopwatch.StartNew();
        var report = new SelfTestReport
        {
            Verdict = SelfTestVerdict.Pass,
            Endpoints = settings.Endpoints.Select(u => u.Authority).ToList(),
            Prefix = settings.Prefix,
            Seed = settings.Seed,
            Clients = settings.Clients,
            Keys = settings.Keys,
            DurationSeconds = settings.Duration.TotalSeconds,
        };
        var notes = new List<string>();
        var (reachable, startRevision, inUse) = await ProbeAsync(notes, cancellationToken);
        if (reachable.Count == 0)
        {
            return report with
            {
                Verdict = cancellationToken.IsCancellationRequested ? SelfTestVerdict.Interrupted : SelfTestVerdict.Unreachable,
                Reasons = [$"no endpoint answered a linearizable read within {CallTimeout.TotalSeconds:0} s"],
                Notes = notes,
                ElapsedSeconds = elapsed.Elapsed.TotalSeconds,
            };
        }

        if (inUse > 0)
        {
            return report with
            {
                Verdict = SelfTestVerdict.PrefixInUse,
                Reasons = [$"{inUse} keys already exist under {settings.Prefix}; selftest only runs on an empty prefix (it deletes the prefix afterwards)"],
                Notes = notes,
                ElapsedSeconds = elapsed.Elapsed.TotalSeconds,
            };
        }

        report = report with { StartRevision = startRevision };
        try
        {
            report = await RunAndCheckAsync(report, reachable, startRevision, notes, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            report = report with { Verdict = SelfTestVerdict.Interrupted, Reasons = ["interrupted; nothing was checked"] };
        }
        finally
        {
            report = report with { Cleanup = await CleanupAsync(reachable) };
        }

        if (report.Cleanup!.Error is { } error)
        {
            notes.Add($"cleanup incomplete: {error}");
        }

        return report with { Notes = notes, ElapsedSeconds = elapsed.Elapsed.TotalSeconds };
    }

    private async Task<(List<Uri> Reachable, long StartRevision, long InUse)> ProbeAsync(List<string> notes, CancellationToken cancellationToken)
    {
        var probes = await Task.WhenAll(settings.Endpoints.Select(async url =>
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(url);
                var response = await new KV.KVClient(channel).RangeAsync(
                    new RangeRequest { Key = PrefixKey, RangeEnd = PrefixEnd, CountOnly = true },
                    deadline: DateTime.UtcNow + CallTimeout,
                    cancellationToken: cancellationToken);
                return (Url: url, Response: response, Error: (string?)null);
            }
            catch (RpcException e)
            {
                return (Url: url, Response: (RangeResponse?)null, Error: Describe(e));
            }
        }));
        foreach (var probe in probes.Where(p => p.Response is null))
        {
            notes.Add($"{probe.Url.Authority} did not answer ({probe.Error}); the run uses the other endpoints");
            _progress($"selftest: {probe.Url.Authority} did not answer: {probe.Error}");
        }

        var answered = probes.Where(p => p.Response is not null).ToList();
        return (
            answered.Select(p => p.Url).ToList(),
            answered.Select(p => p.Response!.Header.Revision).DefaultIfEmpty(0).Max(),
            answered.Select(p => p.Response!.Count).DefaultIfEmpty(0).Max());
    }

    private async Task<SelfTestReport> RunAndCheckAsync(SelfTestReport report, List<Uri> urls, long startRevision, List<string> notes, CancellationToken cancellationToken)
    {
        var reasons = new List<string>();
        var keys = KvWorkload.Keys(settings.Prefix, settings.Keys);
        var workload = new KvWorkload(urls, settings.Clients, keys, settings.Seed, settings.OpTimeout);
        await using var watcher0 = new WatchRecorder("watcher-0", urls, 0, startRevision + 1, settings.Prefix);
        await using var watcher1 = new WatchRecorder("watcher-1", urls, 1, startRevision + 1, settings.Prefix);
        _progress($"selftest: {settings.Clients} clients on {settings.Keys} keys under {settings.Prefix} for {settings.Duration.TotalSeconds:0.#} s (seed {settings.Seed})");
        string lease;
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            var load = workload.RunAsync(stop.Token);
            var leaseRound = LeaseRoundAsync(urls[0], reasons, stop.Token);
            try
            {
                await Task.Delay(settings.Duration / 2, cancellationToken);
                watcher0.ForceReconnect();
                await Task.Delay(settings.Duration - (settings.Duration / 2), cancellationToken);
            }
            finally
            {
                await stop.CancelAsync();
                await load;
                lease = await leaseRound;
            }
        }

        _progress($"selftest: {workload.Count} operations; final reads and checks");
        await workload.FinalReadsAsync(settings.Clients, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        var history = workload.History;
        report = report with
        {
            Operations = Statistics(history),
            Lease = lease,
            Watchers = 2,
        };

        var fence = await FenceAsync(urls, cancellationToken);
        if (fence is null)
        {
            reasons.Add($"availability: no endpoint accepted a put of {settings.Prefix}fence within {CallTimeout.TotalSeconds:0} s after the load; the history was not checked");
            return report with { Verdict = SelfTestVerdict.Fail, Reasons = reasons };
        }

        // Cut every event list at the fence: a write with unknown outcome could still land after it.
        IReadOnlyList<WatchedEvent> referenceEvents;
        await using (var reference = new WatchRecorder("reference", urls, urls.Count > 2 ? 2 : 0, startRevision + 1, settings.Prefix))
        {
            if (!await reference.CatchUpAsync(fence.Value, CatchUpTimeout).WaitAsync(cancellationToken))
            {
                reasons.Add($"watch: a fresh watch from revision {startRevision + 1} did not reach the fence revision {fence} within {CatchUpTimeout.TotalSeconds:0} s (was the revision compacted during the run?)");
            }

            referenceEvents = reference.Events.Where(e => e.Revision <= fence).ToList();
        }

        var watchers = new List<WatchRecord>();
        foreach (var watcher in new[] { watcher0, watcher1 })
        {
            await watcher.CatchUpAsync(fence.Value, CatchUpTimeout).WaitAsync(cancellationToken);
            watchers.Add(new WatchRecord(watcher.Name, watcher.StartRevision, watcher.Events.Where(e => e.Revision <= fence).ToList()));
        }

        // The checker is bounded by its step and time budgets; Ctrl-C does not wait for it.
        var options = new CheckOptions { MaxSteps = settings.CheckMaxSteps, Timeout = settings.CheckTimeout };
        var verdict = await Task.Run(() => HistoryChecker.Check(history, referenceEvents, watchers, options), CancellationToken.None).WaitAsync(cancellationToken);
        var undecided = verdict.Linearizability.Outcome == CheckOutcome.Unknown;
        reasons.AddRange(verdict.Violations);
        if (verdict.UnknownWritesDropped + verdict.UnknownWritesKept > 0)
        {
            notes.Add($"{verdict.UnknownWritesDropped + verdict.UnknownWritesKept} writes timed out or lost their connection; {verdict.UnknownWritesKept} of them took effect");
        }

        var violations = reasons.Count - (undecided ? 1 : 0);
        return report with
        {
            Verdict = violations > 0 ? SelfTestVerdict.Fail : undecided ? SelfTestVerdict.Undecided : SelfTestVerdict.Pass,
            Reasons = reasons,
            WatchEvents = watchers.Sum(w => w.Events.Count),
            WatchReconnects = watcher0.Reconnects + watcher1.Reconnects,
            CheckerSteps = verdict.Linearizability.Steps,
            CheckedKeys = verdict.Linearizability.Partitions,
        };
    }

    /// <summary>Grant, attach a key, read it, revoke, read it gone. Returns "ok" or what went wrong; definite wrong answers go to <paramref name="reasons"/>.</summary>
    private async Task<string> LeaseRoundAsync(Uri url, List<string> reasons, CancellationToken cancellationToken)
    {
        var key = ByteString.CopyFromUtf8(settings.Prefix + "lease");
        try
        {
            using var channel = GrpcChannel.ForAddress(url);
            var leases = new Lease.LeaseClient(channel);
            var kv = new KV.KVClient(channel);
            var grant = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = 60 }, deadline: Deadline(), cancellationToken: cancellationToken);
            lock (_lock)
            {
                _leases.Add(grant.ID);
            }

            await kv.PutAsync(new PutRequest { Key = key, Value = ByteString.CopyFromUtf8($"lease-{grant.ID}"), Lease = grant.ID }, deadline: Deadline(), cancellationToken: cancellationToken);
            var before = await kv.RangeAsync(new RangeRequest { Key = key }, deadline: Deadline(), cancellationToken: cancellationToken);
            if (before.Kvs.Count != 1 || before.Kvs[0].Lease != grant.ID)
            {
                var problem = $"lease: a put of {settings.Prefix}lease with lease {grant.ID} was acknowledged but reads back as {(before.Kvs.Count == 0 ? "absent" : $"attached to lease {before.Kvs[0].Lease}")}";
                lock (reasons)
                {
                    reasons.Add(problem);
                }

                return problem;
            }

            await leases.LeaseRevokeAsync(new LeaseRevokeRequest { ID = grant.ID }, deadline: Deadline(), cancellationToken: cancellationToken);
            lock (_lock)
            {
                _leases.Remove(grant.ID);
            }

            var after = await kv.RangeAsync(new RangeRequest { Key = key }, deadline: Deadline(), cancellationToken: cancellationToken);
            if (after.Kvs.Count != 0)
            {
                var problem = $"lease: {settings.Prefix}lease is still present after the revoke of its lease {grant.ID} was acknowledged";
                lock (reasons)
                {
                    reasons.Add(problem);
                }

                return problem;
            }

            return $"ok (lease {grant.ID} granted, key attached, revoked, key gone)";
        }
        catch (RpcException e)
        {
            return $"not completed: {Describe(e)}";
        }
        catch (OperationCanceledException)
        {
            return "not completed: the run ended first";
        }
    }

    /// <summary>Puts "{prefix}fence"; its revision is the end of the history. Null when no endpoint accepts it.</summary>
    private async Task<long?> FenceAsync(List<Uri> urls, CancellationToken cancellationToken)
    {
        foreach (var url in urls)
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(url);
                var put = await new KV.KVClient(channel).PutAsync(
                    new PutRequest { Key = ByteString.CopyFromUtf8(settings.Prefix + "fence"), Value = ByteString.CopyFromUtf8("fence") },
                    deadline: Deadline(),
                    cancellationToken: cancellationToken);
                return put.Header.Revision;
            }
            catch (RpcException) when (!cancellationToken.IsCancellationRequested)
            {
            }
        }

        return null;
    }

    /// <summary>Deletes the prefix and revokes the leases still held; never throws, never takes more than <see cref="CleanupTimeout"/>.</summary>
    private async Task<CleanupReport> CleanupAsync(List<Uri> urls)
    {
        using var timeout = new CancellationTokenSource(CleanupTimeout);
        long? deleted = null;
        long? remaining = null;
        var revoked = 0;
        var errors = new List<string>();
        List<long> leases;
        lock (_lock)
        {
            leases = [.. _leases];
        }

        foreach (var url in urls)
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(url);
                var kv = new KV.KVClient(channel);
                var leaseClient = new Lease.LeaseClient(channel);
                foreach (var id in leases.ToList())
                {
                    try
                    {
                        await leaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = id }, deadline: Deadline(), cancellationToken: timeout.Token);
                        revoked++;
                    }
                    catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
                    {
                        // Already gone (revoked, or expired).
                    }

                    leases.Remove(id);
                }

                deleted ??= (await kv.DeleteRangeAsync(new DeleteRangeRequest { Key = PrefixKey, RangeEnd = PrefixEnd }, deadline: Deadline(), cancellationToken: timeout.Token)).Deleted;
                remaining = (await kv.RangeAsync(new RangeRequest { Key = PrefixKey, RangeEnd = PrefixEnd, CountOnly = true }, deadline: Deadline(), cancellationToken: timeout.Token)).Count;
                break;
            }
            catch (Exception e) when (e is RpcException or OperationCanceledException)
            {
                errors.Add($"{url.Authority}: {(e is RpcException rpc ? Describe(rpc) : "cleanup timed out")}");
            }
        }

        var error = remaining is null ? string.Join("; ", errors) : remaining > 0 ? $"{remaining} keys still under the prefix" : null;
        return new CleanupReport(deleted, remaining, revoked, error);
    }

    private static DateTime Deadline() => DateTime.UtcNow + CallTimeout;

    private static string Describe(RpcException e) => $"{e.StatusCode}: {e.Status.Detail}";

    private static List<OperationStats> Statistics(IReadOnlyList<RecordedOp> history) =>
        Enum.GetValues<KvOp>().Select(kind =>
        {
            var ops = history.Where(o => o.Input.Op == kind).ToList();
            var latencies = ops.Where(o => o.Outcome == OpOutcome.Ok)
                .Select(o => Stopwatch.GetElapsedTime(o.Call, o.Return).TotalMilliseconds)
                .Order()
                .ToList();
            return new OperationStats(
                kind switch { KvOp.CompareAndSwap => "cas", _ => kind.ToString().ToLowerInvariant() },
                ops.Count,
                latencies.Count,
                ops.Count(o => o.Outcome == OpOutcome.Failed),
                ops.Count(o => o.Outcome == OpOutcome.Unknown),
                Percentile(latencies, 0.50),
                Percentile(latencies, 0.99),
                latencies.Count == 0 ? 0 : latencies[^1]);
        }).ToList();

    private static double Percentile(List<double> sorted, double quantile) =>
        sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(quantile * sorted.Count) - 1)];
}
