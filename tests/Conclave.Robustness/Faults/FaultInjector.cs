using System.Globalization;
using Conclave.Api.Etcd.Protocol;
using Conclave.Robustness.Cluster;
using Conclave.Server;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Robustness.Faults;

public enum FaultKind
{
    KillFollower,
    KillLeader,
    KillMajority,
    KillAll,
    PauseLeader,

    /// <summary>The leader and a minority (for 3 members: the leader alone) cut off from the rest, both ways; a put sent to the old leader must not be acknowledged.</summary>
    PartitionLeaderWithMinority,

    /// <summary>The leader's messages to every other member are lost; it still hears them.</summary>
    LeaderCannotSend,

    /// <summary>Every peer link delayed by 50–200 ms.</summary>
    DelayPeers,

    /// <summary>Conclave only: a member restarted with a server failpoint armed (CONCLAVE_FAILPOINTS) crashes there under load, then starts clean.</summary>
    Failpoint,

    /// <summary>Conclave only: a follower falls behind the leader's log; while the leader streams it a snapshot, the sender or the receiver is killed.</summary>
    RestartDuringSnapshotSend,

    /// <summary>The store is filled to its quota (NOSPACE alarm, puts refused), then recovered: compact, defragment every member, disarm.</summary>
    Nospace,
}

/// <summary>Which fault kinds a run draws from, and what they need from the cluster.</summary>
public static class FaultKinds
{
    /// <summary>Drawn when a run names none: the kinds every target supports without special cluster settings.</summary>
    public static readonly IReadOnlyList<FaultKind> Default =
    [
        FaultKind.KillFollower, FaultKind.KillLeader, FaultKind.KillMajority, FaultKind.KillAll,
        FaultKind.PauseLeader, FaultKind.PartitionLeaderWithMinority, FaultKind.LeaderCannotSend, FaultKind.DelayPeers,
    ];

    /// <summary>The quota (--quota-backend-bytes) of a run that may inject <see cref="FaultKind.Nospace"/>.</summary>
    public const long NospaceQuotaBytes = 16L * 1024 * 1024;

    /// <summary>--snapshot-count of a run that may inject <see cref="FaultKind.RestartDuringSnapshotSend"/>.</summary>
    public const int SnapshotCount = 200;

    /// <summary>
    /// --snapshot-catchup-entries of such a run: the entries a leader keeps behind its snapshot
    /// (5,000 by default, in etcd and Conclave), kept small so that a few hundred puts outrun them.
    /// </summary>
    public const int SnapshotCatchUpEntries = 100;

    /// <summary>
    /// Puts the harness writes while the follower is down: twice the entries a leader keeps
    /// behind its snapshot (<see cref="SnapshotCatchUpEntries"/>) plus <see cref="SnapshotCount"/>
    /// (the most the newest snapshot can trail the log), so the follower can only catch up by
    /// snapshot even if some puts fail.
    /// </summary>
    public const int SnapshotLagPuts = 2 * (SnapshotCatchUpEntries + SnapshotCount);

    /// <summary>Conclave members of a run with <see cref="FaultKind.RestartDuringSnapshotSend"/> stall each snapshot send this long (ms) after its first chunk, so the harness can kill the sender mid-transfer.</summary>
    public const int SnapshotSendStallMs = 1_500;

    public static bool NeedsConclave(FaultKind kind) => kind is FaultKind.Failpoint or FaultKind.RestartDuringSnapshotSend;

    /// <summary>"all", "default", or kind names separated by commas (case-insensitive).</summary>
    public static IReadOnlyList<FaultKind> Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "all" => Enum.GetValues<FaultKind>(),
        "default" => Default,
        _ => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => Enum.TryParse<FaultKind>(name, ignoreCase: true, out var kind) && Enum.IsDefined(kind) && !int.TryParse(name, out _)
                ? kind
                : throw new ArgumentException($"unknown fault kind '{name}' (known: {string.Join(", ", Enum.GetValues<FaultKind>())}, or all, default)"))
            .Distinct()
            .ToList(),
    };

    /// <summary>The cluster flags and environment the kinds need (quota, snapshot count, the snapshot-send stall).</summary>
    public static ClusterSettings Settings(IReadOnlyCollection<FaultKind> kinds, bool conclave)
    {
        List<string> flags = [];
        var environment = new Dictionary<string, string?>();
        if (kinds.Contains(FaultKind.Nospace))
        {
            flags.AddRange(["--quota-backend-bytes", NospaceQuotaBytes.ToString(CultureInfo.InvariantCulture)]);
        }

        if (kinds.Contains(FaultKind.RestartDuringSnapshotSend))
        {
            flags.AddRange(["--snapshot-count", SnapshotCount.ToString(CultureInfo.InvariantCulture)]);
            if (conclave)
            {
                // etcd 3.4 has no such flag (the kind is Conclave's only).
                flags.AddRange(["--snapshot-catchup-entries", SnapshotCatchUpEntries.ToString(CultureInfo.InvariantCulture)]);
                environment[Failpoints.EnvironmentVariable] = SnapshotSendSpec;
            }
        }

        return new ClusterSettings { Flags = flags, Environment = environment };
    }

    internal static string SnapshotSendSpec => $"snapshotSend=sleep({SnapshotSendStallMs})";
}

/// <summary>What a fault needs from the run it is part of.</summary>
public interface IFaultHooks
{
    /// <summary>
    /// Called before the harness compacts at <paramref name="revision"/> (the revision of an event
    /// under the workload's prefix): every watcher must have seen it and the run must keep the
    /// events below it. False = do not compact.
    /// </summary>
    Task<bool> BeforeCompactionAsync(long revision);
}

/// <summary>One injected fault: what, on which members, when (seconds since the run started), and how long it was held.</summary>
public sealed record FaultRecord(FaultKind Kind, IReadOnlyList<int> Members, double AtSeconds, double HeldSeconds, bool Recovered)
{
    /// <summary>What the fault did beyond its kind (failpoint fired, puts refused, probe answer...).</summary>
    public string? Note { get; init; }
}

/// <summary>
/// Injects one fault at a time and undoes it. Which fault and on whom is drawn from the seeded
/// <see cref="Random"/> (from <paramref name="kinds"/>, <see cref="FaultKinds.Default"/> unless
/// given); who leads is asked from the cluster (Maintenance.Status) at that moment. Problems a
/// fault itself detects (an isolated leader that commits, writes still refused after a NOSPACE
/// recovery) are added to <see cref="Violations"/>; what it did is in <see cref="LastNote"/>.
/// </summary>
public sealed class FaultInjector(IClusterUnderTest cluster, Random random, IReadOnlyList<FaultKind>? kinds = null, IFaultHooks? hooks = null) : IDisposable
{
    private static readonly Failpoint[] CrashPoints =
    [
        Failpoint.WalBeforeWrite, Failpoint.WalMidRecord, Failpoint.WalBeforeFsync, Failpoint.WalAfterFsync,
        Failpoint.BeforeApply, Failpoint.AfterApply,
    ];

    private static readonly TimeSpan AdminTimeout = TimeSpan.FromSeconds(5);

    private readonly IReadOnlyList<FaultKind> _kinds = kinds is { Count: > 0 } ? kinds : FaultKinds.Default;
    private readonly AdminClient _admin = new(cluster);
    private readonly List<string> _violations = [];
    private int _sequence;

    public FaultKind Next() => _kinds[random.Next(_kinds.Count)];

    /// <summary>Violations found by the faults themselves so far.</summary>
    public IReadOnlyList<string> Violations => _violations;

    /// <summary>What the last fault did (set by its injection and its recovery), or null.</summary>
    public string? LastNote { get; private set; }

    /// <summary>Applies <paramref name="kind"/>; returns the members it touched and the action that undoes it.</summary>
    public async Task<(IReadOnlyList<int> Members, Func<Task> Recover)> InjectAsync(FaultKind kind)
    {
        LastNote = null;
        _sequence++;
        var count = cluster.Count;
        var leader = await FindLeaderAsync() ?? random.Next(count);
        var followers = Enumerable.Range(0, count).Where(m => m != leader).ToList();
        switch (kind)
        {
            case FaultKind.KillFollower:
                {
                    var victim = followers[random.Next(followers.Count)];
                    await cluster.KillAsync(victim);
                    return ([victim], () => cluster.RestartAsync(victim));
                }

            case FaultKind.KillLeader:
                await cluster.KillAsync(leader);
                return ([leader], () => cluster.RestartAsync(leader));
            case FaultKind.KillMajority:
                {
                    var victims = Enumerable.Range(0, count).OrderBy(_ => random.Next()).Take((count / 2) + 1).Order().ToList();
                    await Task.WhenAll(victims.Select(cluster.KillAsync));
                    return (victims, () => Task.WhenAll(victims.Select(cluster.RestartAsync)));
                }

            case FaultKind.KillAll:
                {
                    var victims = Enumerable.Range(0, count).ToList();
                    await Task.WhenAll(victims.Select(cluster.KillAsync));
                    return (victims, () => Task.WhenAll(victims.Select(cluster.RestartAsync)));
                }

            case FaultKind.PauseLeader:
                await cluster.PauseAsync(leader);
                return ([leader], () => cluster.ResumeAsync(leader));
            case FaultKind.PartitionLeaderWithMinority:
                {
                    var side = followers.OrderBy(_ => random.Next()).Take(((count - 1) / 2) - 1).Append(leader).Order().ToList();
                    cluster.Network.Partition(side);
                    await ProbeMinorityAsync(leader, side);
                    return (side, Heal);
                }

            case FaultKind.LeaderCannotSend:
                foreach (var follower in followers)
                {
                    cluster.Network.BlockOneWay(leader, follower);
                }

                return ([leader], Heal);
            case FaultKind.DelayPeers:
                cluster.Network.SetDelay(TimeSpan.FromMilliseconds(50 + random.Next(151)));
                return (Enumerable.Range(0, count).ToList(), Heal);
            case FaultKind.Failpoint:
                return await CrashAtFailpointAsync(random.Next(2) == 0 ? leader : followers[random.Next(followers.Count)]);
            case FaultKind.RestartDuringSnapshotSend:
                return await RestartDuringSnapshotSendAsync(leader, followers[random.Next(followers.Count)]);
            case FaultKind.Nospace:
                return await FillToQuotaAsync();
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "robustness: unknown fault");
        }
    }

    /// <summary>
    /// The members cut off with the leader are a minority: a put sent to the old leader after the
    /// cut must not be acknowledged (it can reach no majority). An answer is a violation.
    /// </summary>
    private async Task ProbeMinorityAsync(int leader, IReadOnlyList<int> side)
    {
        var key = $"probe/minority-{_sequence}";
        try
        {
            var revision = await _admin.PutAsync(leader, key, ByteString.CopyFromUtf8("must-not-commit"), TimeSpan.FromSeconds(1.2));
            _violations.Add($"partition: member {leader}, cut off with [{string.Join(',', side)}] (a minority), acknowledged a put of {key} at revision {revision}");
            LastNote = $"probe put to the old leader {leader} was ACKNOWLEDGED at revision {revision}";
        }
        catch (RpcException e)
        {
            LastNote = $"probe put to the old leader {leader}: not acknowledged ({e.StatusCode})";
        }
    }

    /// <summary>
    /// Restarts <paramref name="victim"/> with a crash failpoint armed and waits (at most 20 s)
    /// until it fires; undo = restart it clean (if it did not crash, it is killed first).
    /// </summary>
    private async Task<(IReadOnlyList<int>, Func<Task>)> CrashAtFailpointAsync(int victim)
    {
        var point = CrashPoints[random.Next(CrashPoints.Length)];
        var nth = 1 + random.Next(point is Failpoint.BeforeApply or Failpoint.AfterApply ? 500 : 100);
        var spec = $"seed={random.Next()};{FailpointPlan.NameOf(point)}=crash@{nth}";
        await cluster.KillAsync(victim);
        var stop = new CancellationTokenSource();
        var fired = cluster.NextLogLineAsync(victim, line => line.Contains($"failpoint {FailpointPlan.NameOf(point)} fired", StringComparison.Ordinal), stop.Token);
        await cluster.RestartAsync(victim, new Dictionary<string, string?> { [Failpoints.EnvironmentVariable] = spec });
        await Task.WhenAny(fired, Task.Delay(TimeSpan.FromSeconds(20)));
        LastNote = $"{spec} on member {victim}";
        async Task RecoverAsync()
        {
            var crashed = cluster.Exited(victim).IsCompleted;
            await stop.CancelAsync();
            stop.Dispose();
            var didFire = fired.IsCompletedSuccessfully;
            await cluster.KillAsync(victim);
            await cluster.RestartAsync(victim);
            LastNote += didFire ? $": fired{(crashed ? " and crashed" : string.Empty)}" : ": not reached during the hold";
        }

        return ([victim], RecoverAsync);
    }

    /// <summary>
    /// Kills <paramref name="follower"/>, writes <see cref="FaultKinds.SnapshotLagPuts"/> puts so the
    /// leader's log moves past it, then restarts it. Either the receiver restarts with a crash at
    /// snapshotReceive / snapshotInstall, or (every member stalls its sends,
    /// <see cref="FaultKinds.SnapshotSendSpec"/>) the sender is killed while it streams. Undo:
    /// restart whoever was killed, clean.
    /// </summary>
    private async Task<(IReadOnlyList<int>, Func<Task>)> RestartDuringSnapshotSendAsync(int leader, int follower)
    {
        await cluster.KillAsync(follower);
        var written = await LagPutsAsync(leader);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        if (random.Next(2) == 0)
        {
            var point = random.Next(2) == 0 ? Failpoint.SnapshotReceive : Failpoint.SnapshotInstall;
            var name = FailpointPlan.NameOf(point);
            var fired = cluster.NextLogLineAsync(follower, line => line.Contains($"failpoint {name} fired", StringComparison.Ordinal), stop.Token);
            await cluster.RestartAsync(follower, new Dictionary<string, string?> { [Failpoints.EnvironmentVariable] = $"{FaultKinds.SnapshotSendSpec};{name}=crash@1" });
            var crashed = await Task.WhenAny(fired, Task.Delay(Timeout.Infinite, stop.Token)) == fired && fired.IsCompletedSuccessfully;
            await stop.CancelAsync();
            if (crashed)
            {
                await cluster.Exited(follower).WaitAsync(TimeSpan.FromSeconds(10));
            }

            LastNote = $"{written} puts while member {follower} was down; receiver restarted with {name}=crash@1: {(crashed ? "crashed there" : "no snapshot arrived within 20 s")}";
            async Task RestartReceiverAsync()
            {
                await cluster.KillAsync(follower);
                await cluster.RestartAsync(follower);
            }

            return ([follower], RestartReceiverAsync);
        }

        var sends = Enumerable.Range(0, cluster.Count).Where(m => m != follower)
            .Select(m => (Member: m, Line: cluster.NextLogLineAsync(m, line => line.Contains("failpoint snapshotSend fired", StringComparison.Ordinal), stop.Token)))
            .ToList();
        await cluster.RestartAsync(follower);
        await Task.WhenAny(sends.Select(s => s.Line));
        var sender = sends.Where(s => s.Line.IsCompletedSuccessfully).Select(s => s.Member).DefaultIfEmpty(-1).First();
        await stop.CancelAsync();
        if (sender < 0)
        {
            LastNote = $"{written} puts while member {follower} was down; no snapshot send started within 20 s of its restart";
            return ([follower], () => Task.CompletedTask);
        }

        await cluster.KillAsync(sender);
        LastNote = $"{written} puts while member {follower} was down; member {sender} killed while it streamed a snapshot to member {follower}";
        return ([follower, sender], () => cluster.RestartAsync(sender));
    }

    /// <summary>Small puts outside the workload's prefix, 32 at a time, through <paramref name="member"/> first; returns how many were acknowledged.</summary>
    private async Task<int> LagPutsAsync(int member)
    {
        var next = 0;
        var acknowledged = 0;
        var value = ByteString.CopyFromUtf8("lag");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Task.WhenAll(Enumerable.Range(0, 32).Select(async writer =>
        {
            var target = member;
            while (Interlocked.Increment(ref next) <= FaultKinds.SnapshotLagPuts && !deadline.IsCancellationRequested)
            {
                try
                {
                    await _admin.PutAsync(target, $"fill/lag-{writer}", value, TimeSpan.FromSeconds(2));
                    Interlocked.Increment(ref acknowledged);
                }
                catch (RpcException)
                {
                    target = (target + 1) % cluster.Count;
                }
            }
        }));
        return acknowledged;
    }

    /// <summary>
    /// Puts a mark key under the workload's prefix, then 256 KiB values outside it until a put is
    /// refused with NOSPACE. Undo: delete the filler and the mark (deletes pass NOSPACE), let the
    /// run save its events below the mark's delete (<see cref="IFaultHooks"/>), compact there,
    /// defragment every member, disarm every alarm, and check that a put succeeds again.
    /// </summary>
    private async Task<(IReadOnlyList<int>, Func<Task>)> FillToQuotaAsync()
    {
        var all = Enumerable.Range(0, cluster.Count).ToList();
        var markKey = $"{Conclave.Verification.Workload.KvWorkload.KeyPrefix}nospace-mark";
        const string fillKey = "fill/nospace";
        await _admin.AnyAsync(m => _admin.PutAsync(m, markKey, ByteString.CopyFromUtf8($"mark-{_sequence}"), AdminTimeout), TimeSpan.FromSeconds(15));
        var value = ByteString.CopyFrom(new byte[256 * 1024]);
        var limit = (int)(FaultKinds.NospaceQuotaBytes / value.Length * 2) + 16;
        var puts = 0;
        var full = false;
        while (puts < limit && !full)
        {
            try
            {
                await _admin.AnyAsync(m => _admin.PutAsync(m, fillKey, value, AdminTimeout), TimeSpan.FromSeconds(15), AdminClient.IsNoSpace);
                puts++;
            }
            catch (RpcException e) when (AdminClient.IsNoSpace(e))
            {
                full = true;
            }
        }

        var alarms = await _admin.AnyAsync(m => _admin.AlarmsAsync(m, AdminTimeout), TimeSpan.FromSeconds(15));
        LastNote = $"{puts} puts of 256 KiB, then {(full ? "NOSPACE" : "NO refusal")}; alarms [{string.Join(' ', alarms)}]";
        if (!full)
        {
            _violations.Add($"nospace: {puts} puts of 256 KiB never hit the quota of {FaultKinds.NospaceQuotaBytes} bytes");
        }

        async Task RecoverAsync()
        {
            await _admin.AnyAsync(m => _admin.DeleteAsync(m, fillKey, AdminTimeout), TimeSpan.FromSeconds(15));
            // A retried delete that had taken effect deletes nothing: then the mark's revision is unknown and nothing is compacted.
            var (revision, deleted) = await _admin.AnyAsync(m => _admin.DeleteAsync(m, markKey, AdminTimeout), TimeSpan.FromSeconds(15));
            if (deleted == 1 && (hooks is null || await hooks.BeforeCompactionAsync(revision)))
            {
                try
                {
                    await _admin.AnyAsync(async m => { await _admin.CompactAsync(m, revision, AdminTimeout); return 0; }, TimeSpan.FromSeconds(15));
                }
                catch (RpcException e) when (e.Status.Detail.Contains("compacted", StringComparison.Ordinal))
                {
                    // A retry of a compaction that took effect.
                }

                foreach (var m in all.Where(cluster.IsUp))
                {
                    await _admin.DefragmentAsync(m, TimeSpan.FromSeconds(30));
                }

                LastNote += $"; compacted at {revision}, defragmented";
            }
            else
            {
                LastNote += $"; NOT compacted ({(deleted == 1 ? "a watcher did not reach the mark" : "the mark's delete revision is unknown")})";
            }

            var disarmed = await _admin.AnyAsync(m => _admin.DisarmAllAsync(m, AdminTimeout), TimeSpan.FromSeconds(15));
            try
            {
                await _admin.AnyAsync(m => _admin.PutAsync(m, "fill/after-nospace", ByteString.CopyFromUtf8("ok"), AdminTimeout), TimeSpan.FromSeconds(15), AdminClient.IsNoSpace);
                LastNote += $", {disarmed} alarm(s) disarmed; puts succeed again";
            }
            catch (RpcException e) when (AdminClient.IsNoSpace(e))
            {
                _violations.Add($"nospace: puts are still refused after compaction at {revision}, defragment and disarming {disarmed} alarm(s)");
                LastNote += $", {disarmed} alarm(s) disarmed; puts STILL refused";
            }
        }

        return (all, RecoverAsync);
    }

    private Task Heal()
    {
        cluster.Network.Heal();
        return Task.CompletedTask;
    }

    public void Dispose() => _admin.Dispose();

    /// <summary>The member most running members name as leader, or null when none answers within a second.</summary>
    public async Task<int?> FindLeaderAsync()
    {
        var answers = await Task.WhenAll(Enumerable.Range(0, cluster.Count).Where(cluster.IsUp).Select(async m =>
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(cluster.ClientUrls[m]);
                var status = await new Maintenance.MaintenanceClient(channel)
                    .StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(1));
                return status.Leader;
            }
            catch (RpcException)
            {
                return 0UL;
            }
        }));
        var leaderId = answers.Where(id => id != 0).GroupBy(id => id).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault();
        for (var m = 0; m < cluster.Count; m++)
        {
            if (leaderId != 0 && cluster.MemberId(m) == leaderId)
            {
                return m;
            }
        }

        return null;
    }
}
