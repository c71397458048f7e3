using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Conclave.Robustness.Cluster;
using Conclave.Robustness.Faults;
using Conclave.Verification.Checking;
using Conclave.Verification.Linearizability;
using Conclave.Verification.Workload;

namespace Conclave.Robustness;

public enum TargetKind
{
    Etcd,
    Conclave,
}

public sealed record RunOptions
{
    public TargetKind Target { get; init; } = TargetKind.Etcd;

    public int Members { get; init; } = 3;

    /// <summary>How long the workload runs under faults (start-up and final checks come on top).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    public int Seed { get; init; } = 1;

    public int Clients { get; init; } = 4;

    public int Keys { get; init; } = 4;

    /// <summary>Per-operation deadline; an operation past it is recorded with unknown outcome.</summary>
    public TimeSpan OpTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Where a failing run writes its history and report (a subfolder per run).</summary>
    public string FailureDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "conclave-robustness-failures");

    /// <summary>Conclave only: the conclave.dll to run.</summary>
    public string? ConclaveDll { get; init; }

    /// <summary>The fault kinds drawn from; null = <see cref="FaultKinds.Default"/>.</summary>
    public IReadOnlyList<FaultKind>? Faults { get; init; }

    public IReadOnlyList<FaultKind> EffectiveFaults => Faults is { Count: > 0 } faults ? faults : FaultKinds.Default;

    /// <summary>The one command that repeats this run.</summary>
    public string ReproduceCommand =>
        $"dotnet run -c Release --project tests/Conclave.Robustness -- --target {Target.ToString().ToLowerInvariant()} --members {Members} " +
        $"--duration {Duration.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s --seed {Seed} --clients {Clients} --keys {Keys}" +
        (Faults is { Count: > 0 } ? $" --faults {string.Join(',', Faults)}" : string.Empty);
}

public sealed record RunReport(
    RunOptions Options,
    int Operations,
    int Acknowledged,
    int Failed,
    int Unknown,
    IReadOnlyList<FaultRecord> Faults,
    IReadOnlyList<string> Violations,
    long CheckSteps,
    int WatchEvents,
    int WatchReconnects,
    TimeSpan Elapsed,
    string? FailureFolder)
{
    public bool Passed => Violations.Count == 0;

    public string Summary() =>
        $"target {Options.Target.ToString().ToLowerInvariant()}, {Options.Members} members, seed {Options.Seed}, {Elapsed.TotalSeconds:0} s: " +
        $"{Operations} ops ({Acknowledged} ok, {Failed} failed, {Unknown} unknown), {Faults.Count} faults " +
        $"({string.Join(", ", Faults.GroupBy(f => f.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))}), " +
        $"{WatchEvents} watch events ({WatchReconnects} reconnects), {CheckSteps} checker steps, {Violations.Count} violations";
}

/// <summary>
/// One bounded robustness run: start a cluster, run the workload and watchers while the seeded
/// fault schedule injects one fault at a time (hold 1–3 s, undo, wait for every member to serve
/// a linearizable read again), then heal, kill and restart every member, read every key, take
/// the whole event history from revision 1 and check it all with <see cref="HistoryChecker"/>.
/// Every process and folder is gone when <see cref="RunAsync"/> returns, whatever happened.
/// </summary>
public static class RobustnessRun
{
    private static readonly TimeSpan RecoveryTimeout = TimeSpan.FromSeconds(30);

    public static async Task<RunReport> RunAsync(RunOptions options, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        log ??= _ => { };
        var started = Stopwatch.StartNew();
        var random = new Random(options.Seed);
        var violations = new List<string>();
        var faults = new List<FaultRecord>();
        var settings = FaultKinds.Settings(options.EffectiveFaults, options.Target == TargetKind.Conclave);
        await using ProcessCluster cluster = options.Target == TargetKind.Etcd
            ? new EtcdCluster(options.Members, settings)
            : new ConclaveCluster(options.Members, options.ConclaveDll ?? ConclaveCluster.DllPath, settings);
        await cluster.StartAsync(TimeSpan.FromSeconds(60), cancellationToken);
        log($"started {options.Members} {cluster.Target} members: {string.Join(' ', cluster.ClientUrls)}");

        var keys = KvWorkload.Keys(options.Keys);
        var workload = new KvWorkload(cluster.ClientUrls, options.Clients, keys, options.Seed, options.OpTimeout);
        await using var fromStart = new WatchRecorder("watcher-0", cluster.ClientUrls, 0, 1);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var load = workload.RunAsync(stop.Token);

        // The second watcher starts later, from the revision of the first answered write, on another member.
        await using var lateHolder = new LateWatcher();
        WatchRecorder? late = null;
        var compaction = new CompactionGuard(cluster.ClientUrls, [fromStart], violations);
        using var injector = new FaultInjector(cluster, random, options.EffectiveFaults, compaction);
        try
        {
            var end = started.Elapsed + options.Duration;
            while (started.Elapsed < end && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(1000 + random.Next(2000)), cancellationToken);
                if (late is null && workload.History.FirstOrDefault(op => op.Revision > 0) is { } firstWrite)
                {
                    late = lateHolder.Watcher = new WatchRecorder("watcher-1", cluster.ClientUrls, 1, Math.Max(firstWrite.Revision, compaction.FirstWatchable));
                    compaction.Watchers.Add(late);
                }

                if (started.Elapsed >= end)
                {
                    break;
                }

                var kind = injector.Next();
                var at = started.Elapsed;
                IReadOnlyList<int> members;
                Func<Task> recover;
                try
                {
                    (members, recover) = await injector.InjectAsync(kind);
                }
                catch (Exception e) when (e is Grpc.Core.RpcException or TimeoutException)
                {
                    violations.Add($"fault: injecting {kind} failed on a cluster that was ready: {e.Message}");
                    break;
                }

                var hold = TimeSpan.FromMilliseconds(1500 + random.Next(2500));
                log($"{at.TotalSeconds,6:0.0}s fault {kind} on [{string.Join(',', members)}] for {hold.TotalSeconds:0.0} s ({workload.Count} ops so far)");
                await Task.Delay(hold, cancellationToken);
                log($"{started.Elapsed.TotalSeconds,6:0.0}s before recovery the leader is {(await injector.FindLeaderAsync())?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}; network {cluster.Network.Describe()}");
                try
                {
                    await recover();
                }
                catch (Exception e) when (e is Grpc.Core.RpcException or TimeoutException)
                {
                    violations.Add($"fault: undoing {kind} on [{string.Join(',', members)}] failed: {e.Message}");
                }

                var notReady = await WaitAllReadyAsync(cluster, RecoveryTimeout, cancellationToken);
                var recovered = notReady is null;
                faults.Add(new FaultRecord(kind, members, at.TotalSeconds, hold.TotalSeconds, recovered) { Note = injector.LastNote });
                if (injector.LastNote is { } note)
                {
                    log($"{started.Elapsed.TotalSeconds,6:0.0}s {kind}: {note}");
                }

                log($"{started.Elapsed.TotalSeconds,6:0.0}s recovered: {recovered} (peer connections cut so far: {cluster.PeerConnectionsCut})");
                if (!recovered)
                {
                    violations.Add($"liveness: the cluster did not serve linearizable reads on every member within {RecoveryTimeout.TotalSeconds:0} s after {kind} on [{string.Join(',', members)}] was undone ({notReady})");
                    break;
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            await load;
        }

        // Final phase: heal, restart everyone from disk, read every key, take the whole event history.
        cluster.Network.Heal();
        for (var m = 0; m < cluster.Count; m++)
        {
            await cluster.ResumeAsync(m);
        }

        await Task.WhenAll(Enumerable.Range(0, cluster.Count).Select(cluster.KillAsync));
        await Task.WhenAll(Enumerable.Range(0, cluster.Count).Select(cluster.RestartAsync));
        if (await WaitAllReadyAsync(cluster, TimeSpan.FromSeconds(60), cancellationToken) is { } finalNotReady)
        {
            violations.Add($"liveness: the cluster did not serve linearizable reads on every member within 60 s of the final restart ({finalNotReady})");
        }

        await workload.FinalReadsAsync(options.Clients);
        violations.AddRange(injector.Violations);

        // A write refused with NOSPACE did not happen (etcd refuses it before or at apply, on every member alike).
        var history = workload.History.Select(op => op.Outcome == OpOutcome.Unknown && op.Error == $"{Grpc.Core.StatusCode.ResourceExhausted}: {AdminClient.NoSpaceDetail}"
            ? op with { Outcome = OpOutcome.Failed }
            : op).ToList();
        var refused = history.Where(op => op.Error?.EndsWith(AdminClient.NoSpaceDetail, StringComparison.Ordinal) == true && op.Input.Op is KvOp.Put or KvOp.CompareAndSwap).ToList();
        if (refused.Count > 0)
        {
            log($"{refused.Count} writes were refused with NOSPACE");
        }

        var finalRevision = history.Where(op => op.Outcome == OpOutcome.Ok).Select(op => op.Revision).DefaultIfEmpty(0).Max();
        List<WatchRecord> watchers = [];
        IReadOnlyList<WatchedEvent> finalEvents = [];
        await using (var reference = new WatchRecorder("reference", cluster.ClientUrls, 0, compaction.FirstWatchable))
        {
            foreach (var watcher in (WatchRecorder?[])[fromStart, late])
            {
                if (watcher is null)
                {
                    continue;
                }

                await watcher.CatchUpAsync(finalRevision, TimeSpan.FromSeconds(20));
                watchers.Add(new WatchRecord(watcher.Name, watcher.StartRevision, watcher.Events));
            }

            // The last write may have been a delete of an absent key (no event): accept the reference's last event then.
            var lastEventRevision = watchers.SelectMany(w => w.Events).Select(e => e.Revision).DefaultIfEmpty(0).Max();
            if (!await reference.CatchUpAsync(Math.Max(1, lastEventRevision), TimeSpan.FromSeconds(20)))
            {
                violations.Add($"liveness: a fresh watch from revision 1 did not reach revision {lastEventRevision} within 20 s");
            }

            // Up to the last compaction the events were saved just before it (CompactionGuard).
            finalEvents = [.. compaction.EventsBelow, .. reference.Events];
        }

        var finalValues = finalEvents.Where(e => !e.IsDelete).Select(e => (e.Key, e.Value)).ToHashSet();
        foreach (var op in refused.Where(op => finalValues.Contains((op.Input.Key, op.Input.Value))))
        {
            violations.Add($"nospace: client {op.ClientId}'s {op.Input.Op} of {op.Input.Key}={op.Input.Value} was refused with NOSPACE but is in the final event history");
        }

        var verdict = HistoryChecker.Check(history, finalEvents, watchers, new CheckOptions { Timeout = TimeSpan.FromSeconds(120) });
        violations.AddRange(verdict.Violations);
        var report = new RunReport(
            options,
            history.Count,
            history.Count(op => op.Outcome == OpOutcome.Ok),
            history.Count(op => op.Outcome == OpOutcome.Failed),
            history.Count(op => op.Outcome == OpOutcome.Unknown),
            faults,
            violations,
            verdict.Linearizability.Steps,
            watchers.Sum(w => w.Events.Count),
            fromStart.Reconnects + (late?.Reconnects ?? 0),
            started.Elapsed,
            null);
        if (!report.Passed)
        {
            var folder = WriteFailure(options, report, history, finalEvents, watchers, cluster);
            report = report with { FailureFolder = folder };
        }

        return report;
    }

    /// <summary>
    /// Makes a compaction safe for the checks: before the harness compacts at revision R every
    /// watcher must have seen R (so a reconnect asks for R + 1 or later), and the events up to R
    /// are read once more from a fresh watch and kept, because after the compaction no watch can
    /// deliver them (a delete at R itself is gone too: compaction drops tombstones at or below R).
    /// The final event history is then those events plus a watch from R + 1.
    /// </summary>
    private sealed class CompactionGuard(IReadOnlyList<Uri> clientUrls, List<WatchRecorder> watchers, List<string> violations) : IFaultHooks
    {
        private readonly List<WatchedEvent> _below = [];

        public List<WatchRecorder> Watchers => watchers;

        /// <summary>The last compaction revision (0 = none).</summary>
        public long CompactedAt { get; private set; }

        /// <summary>The first revision a new watch may start from and still see every later event.</summary>
        public long FirstWatchable => CompactedAt + 1;

        public IReadOnlyList<WatchedEvent> EventsBelow => _below;

        public async Task<bool> BeforeCompactionAsync(long revision)
        {
            foreach (var watcher in watchers)
            {
                if (!await watcher.CatchUpAsync(revision, TimeSpan.FromSeconds(20)))
                {
                    violations.Add($"liveness: {watcher.Name} did not see revision {revision} within 20 s (before a compaction)");
                    return false;
                }
            }

            await using var reference = new WatchRecorder($"reference-to-{revision}", clientUrls, 0, FirstWatchable);
            if (!await reference.CatchUpAsync(revision, TimeSpan.FromSeconds(20)))
            {
                violations.Add($"liveness: a fresh watch from revision {FirstWatchable} did not reach revision {revision} within 20 s (before a compaction)");
                return false;
            }

            _below.AddRange(reference.Events.Where(e => e.Revision <= revision));
            CompactedAt = revision;
            return true;
        }
    }

    /// <summary>Owns the watcher started mid-run so it stops on every exit path.</summary>
    private sealed class LateWatcher : IAsyncDisposable
    {
        public WatchRecorder? Watcher { get; set; }

        public ValueTask DisposeAsync() => Watcher?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    /// <summary>Null once every member answers a linearizable read; after <paramref name="timeout"/>, why a member did not (the first one found).</summary>
    private static async Task<string?> WaitAllReadyAsync(ProcessCluster cluster, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(Enumerable.Range(0, cluster.Count).Select(m => cluster.WaitReadyAsync(m, timeout, cancellationToken)));
            return null;
        }
        catch (InvalidOperationException e)
        {
            return e.Message.Split('\n')[0];
        }
    }

    private static string WriteFailure(
        RunOptions options,
        RunReport report,
        IReadOnlyList<RecordedOp> history,
        IReadOnlyList<WatchedEvent> finalEvents,
        IReadOnlyList<WatchRecord> watchers,
        ProcessCluster cluster)
    {
        var folder = Path.Combine(options.FailureDirectory, $"{options.Target.ToString().ToLowerInvariant()}-seed{options.Seed}-{DateTime.UtcNow:yyyyMMddTHHmmss}");
        Directory.CreateDirectory(folder);
        var json = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(folder, "history.json"), JsonSerializer.Serialize(history, json));
        File.WriteAllText(Path.Combine(folder, "events.json"), JsonSerializer.Serialize(finalEvents, json));
        File.WriteAllText(Path.Combine(folder, "watchers.json"), JsonSerializer.Serialize(watchers, json));
        var text = new StringBuilder();
        text.AppendLine(report.Summary());
        text.AppendLine($"reproduce: {options.ReproduceCommand}");
        text.AppendLine("faults:");
        foreach (var fault in report.Faults)
        {
            text.AppendLine($"  {fault.AtSeconds,6:0.0}s {fault.Kind} [{string.Join(',', fault.Members)}] held {fault.HeldSeconds:0.0} s, recovered {fault.Recovered}{(fault.Note is null ? string.Empty : $" ({fault.Note})")}");
        }

        text.AppendLine("violations:");
        foreach (var violation in report.Violations)
        {
            text.AppendLine(violation);
        }

        for (var m = 0; m < cluster.Count; m++)
        {
            text.AppendLine($"--- member {m} log (last lines) ---").AppendLine(cluster.RecentLog(m));
        }

        File.WriteAllText(Path.Combine(folder, "report.txt"), text.ToString());
        return folder;
    }
}
