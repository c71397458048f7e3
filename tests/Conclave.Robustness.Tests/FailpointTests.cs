using System.Globalization;
using Conclave.Robustness.Cluster;
using Conclave.Robustness.Faults;
using Conclave.Server;
using Google.Protobuf;
using Xunit.Abstractions;

namespace Conclave.Robustness.Tests;

/// <summary>The CONCLAVE_FAILPOINTS grammar and triggers (in process), and every point firing in real members.</summary>
public sealed class FailpointTests(ITestOutputHelper output)
{
    [Fact]
    public void A_full_specification_parses_into_rules_and_a_seed()
    {
        var plan = FailpointPlan.Parse(" seed=7; walAfterFsync=crash@3 ;beforeApply=sleep(50)@10%;SNAPSHOTINSTALL=log;", out var error);

        Assert.Null(error);
        Assert.NotNull(plan);
        Assert.Equal(7, plan.Seed);
        Assert.Equal(new FailpointRule(Failpoint.WalAfterFsync, FailpointAction.Crash, 0, 3, 100), plan.Rule(Failpoint.WalAfterFsync));
        Assert.Equal(new FailpointRule(Failpoint.BeforeApply, FailpointAction.Sleep, 50, 0, 10), plan.Rule(Failpoint.BeforeApply));
        Assert.Equal(new FailpointRule(Failpoint.SnapshotInstall, FailpointAction.Log, 0, 0, 100), plan.Rule(Failpoint.SnapshotInstall));
        Assert.Null(plan.Rule(Failpoint.AfterApply));
        Assert.Equal(3, plan.Rules.Count());
    }

    [Theory]
    [InlineData("nowhere=crash", "unknown failpoint 'nowhere'")]
    [InlineData("3=crash", "unknown failpoint '3'")]
    [InlineData("walAfterFsync", "is not point=action")]
    [InlineData("walAfterFsync=explode", "action 'explode'")]
    [InlineData("walAfterFsync=sleep(0)", "action 'sleep(0)'")]
    [InlineData("walAfterFsync=sleep(x)", "action 'sleep(x)'")]
    [InlineData("walAfterFsync=crash@0", "trigger '0'")]
    [InlineData("walAfterFsync=crash@-2", "trigger '-2'")]
    [InlineData("walAfterFsync=crash@101%", "trigger '101%'")]
    [InlineData("walAfterFsync=crash@0%", "trigger '0%'")]
    [InlineData("walAfterFsync=crash;walafterfsync=log", "given twice")]
    [InlineData("seed=x", "seed 'x'")]
    public void An_invalid_specification_is_refused_with_what_is_wrong(string text, string expected)
    {
        var plan = FailpointPlan.Parse(text, out var error);

        Assert.Null(plan);
        Assert.NotNull(error);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_point_is_named_in_the_grammar_by_its_lower_camel_case_name()
    {
        foreach (var point in Enum.GetValues<Failpoint>())
        {
            var plan = FailpointPlan.Parse($"{FailpointPlan.NameOf(point)}=log", out var error);
            Assert.True(plan?.Rule(point) is not null, $"{FailpointPlan.NameOf(point)}: {error}");
            Assert.True(char.IsLower(FailpointPlan.NameOf(point)[0]));
        }
    }

    [Fact]
    public void A_hit_number_fires_on_that_hit_only_and_an_unarmed_point_never_fires()
    {
        var plan = FailpointPlan.Parse("afterApply=crash@4", out _)!;

        var fired = Enumerable.Range(1, 10).Select(_ => plan.ShouldFire(Failpoint.AfterApply)?.Hit).ToList();
        var other = Enumerable.Range(1, 10).Select(_ => plan.ShouldFire(Failpoint.BeforeApply)).ToList();

        Assert.Equal([null, null, null, 4L, null, null, null, null, null, null], fired);
        Assert.All(other, Assert.Null);
        Assert.Equal(10, plan.Hits(Failpoint.AfterApply));
        Assert.Equal(0, plan.Hits(Failpoint.BeforeApply));
    }

    [Fact]
    public void A_percentage_fires_the_same_hits_for_the_same_seed_and_about_that_often()
    {
        static List<long> Fired(string text)
        {
            var plan = FailpointPlan.Parse(text, out _)!;
            return Enumerable.Range(1, 2_000).Select(_ => plan.ShouldFire(Failpoint.WalBeforeFsync)?.Hit).OfType<long>().ToList();
        }

        var first = Fired("seed=11;walBeforeFsync=log@25%");
        var again = Fired("walBeforeFsync=log@25%;seed=11");
        var otherSeed = Fired("seed=12;walBeforeFsync=log@25%");
        var always = Fired("walBeforeFsync=log");

        Assert.Equal(first, again);
        Assert.NotEqual(first, otherSeed);
        Assert.InRange(first.Count, 400, 600);
        Assert.Equal(2_000, always.Count);
    }

    /// <summary>
    /// Three real members with every point armed to log its first hit: writes reach the WAL and
    /// apply points; a follower killed while 600 puts pass (a snapshot every 200 entries, 100
    /// entries kept behind it: <see cref="FaultKinds.SnapshotCount"/>,
    /// <see cref="FaultKinds.SnapshotCatchUpEntries"/>) must be caught up by snapshot. It first restarts with snapshotInstall=crash@1: killed with the
    /// leader's snapshot durable in its store but unknown to its WAL, it must still start again and
    /// catch up (it did not: "wal: entry index N leaves a gap", docs/robustness.md, bugs found),
    /// and the send, receive and install points are reached. Last it restarts with
    /// afterApply=crash@20: it dies by SIGKILL there, and starts again. The members' WAL segments
    /// are 16 KiB (hidden --wal-segment-bytes), so the puts roll segments over and a snapshot
    /// releases old ones: the rollover and release points are reached too. (With 64 MiB segments
    /// they were not: the wait for them ran into its 600 s timeout, which a ContinueWith turned
    /// into success.)
    /// </summary>
    [ConclaveServeFact]
    public async Task Every_failpoint_fires_in_real_members_and_crash_kills_the_process()
    {
        Assert.True(File.Exists(ConclaveCluster.DllPath), $"{ConclaveCluster.DllPath} does not exist: build it with dotnet build src/Conclave -c Release");
        var points = Enum.GetValues<Failpoint>().ToList();
        var settings = new ClusterSettings
        {
            Flags =
            [
                "--snapshot-count", FaultKinds.SnapshotCount.ToString(CultureInfo.InvariantCulture),
                "--snapshot-catchup-entries", FaultKinds.SnapshotCatchUpEntries.ToString(CultureInfo.InvariantCulture),
                "--wal-segment-bytes", "16384",
            ],
            Environment = new Dictionary<string, string?> { [Failpoints.EnvironmentVariable] = string.Join(';', points.Select(p => $"{FailpointPlan.NameOf(p)}=log@1")) },
        };
        await using var cluster = new ConclaveCluster(3, ConclaveCluster.DllPath, settings);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(600));
        var fired = points.ToDictionary(
            p => p,
            p => Enumerable.Range(0, 3).Select(m => FiredOnAsync(cluster.NextLogLineAsync(m, line => line.Contains($"failpoint {FailpointPlan.NameOf(p)} fired", StringComparison.Ordinal), timeout.Token), m)).ToList());
        await cluster.StartAsync(TimeSpan.FromSeconds(60));
        using var injector = new FaultInjector(cluster, new Random(5));
        using var admin = new AdminClient(cluster);
        var leader = await injector.FindLeaderAsync() ?? throw new InvalidOperationException("no leader after start");
        var follower = (leader + 1) % 3;

        await cluster.KillAsync(follower);
        var acknowledged = await LagAsync(admin);

        // Killed between the snapshot file and the core: the restart must not strand the member.
        var installCrash = cluster.NextLogLineAsync(follower, line => line.Contains("failpoint snapshotInstall fired (hit 1): crash", StringComparison.Ordinal), timeout.Token);
        var crashSpec = string.Join(';', points.Select(p => $"{FailpointPlan.NameOf(p)}={(p == Failpoint.SnapshotInstall ? "crash" : "log")}@1"));
        await cluster.RestartAsync(follower, new Dictionary<string, string?> { [Failpoints.EnvironmentVariable] = crashSpec });
        await installCrash;
        await cluster.Exited(follower).WaitAsync(TimeSpan.FromSeconds(30));
        await cluster.RestartAsync(follower);
        await cluster.WaitReadyAsync(follower, TimeSpan.FromSeconds(120));

        foreach (var (point, waits) in fired)
        {
            // Every wait ends by the 600 s token at the latest.
            await Task.WhenAny(waits);
            var member = waits.FirstOrDefault(w => w.IsCompletedSuccessfully)?.Result;
            Assert.True(member is not null, $"failpoint {FailpointPlan.NameOf(point)} was never reported by any member\n{cluster.RecentLog(follower)}");
            output.WriteLine($"{FailpointPlan.NameOf(point)} fired first on member {member}");
            if (point is Failpoint.SnapshotReceive or Failpoint.SnapshotInstall)
            {
                Assert.True(waits[follower].IsCompletedSuccessfully, $"{FailpointPlan.NameOf(point)}: the restarted follower {follower} did not report it (it should be caught up by snapshot)");
            }
        }

        Assert.Equal(FaultKinds.SnapshotLagPuts, acknowledged);

        // crash = SIGKILL at the point: the process is gone, its last line names the point.
        await cluster.KillAsync(follower);
        var crashLine = cluster.NextLogLineAsync(follower, line => line.Contains("failpoint afterApply fired", StringComparison.Ordinal), CancellationToken.None);
        await cluster.RestartAsync(follower, new Dictionary<string, string?> { [Failpoints.EnvironmentVariable] = "afterApply=crash@20" });
        for (var i = 0; i < 200 && !cluster.Exited(follower).IsCompleted; i++)
        {
            await admin.AnyAsync(m => admin.PutAsync(m, "fill/after", ByteString.CopyFromUtf8($"a{i}"), TimeSpan.FromSeconds(5)), TimeSpan.FromSeconds(30));
        }

        await cluster.Exited(follower).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("failpoint afterApply fired (hit 20): crash", await crashLine.WaitAsync(TimeSpan.FromSeconds(10)), StringComparison.Ordinal);
        Assert.False(cluster.IsUp(follower), "the member must be gone after a crash failpoint");

        await cluster.RestartAsync(follower, new Dictionary<string, string?> { [Failpoints.EnvironmentVariable] = null });
        await cluster.WaitReadyAsync(follower, TimeSpan.FromSeconds(120));
    }

    /// <summary>
    /// <paramref name="member"/> once <paramref name="line"/> arrives; canceled (not successful)
    /// when the wait for the line is, so a point that is never reached fails the test.
    /// </summary>
    private static async Task<int> FiredOnAsync(Task<string> line, int member)
    {
        await line;
        return member;
    }

    /// <summary><see cref="FaultKinds.SnapshotLagPuts"/> acknowledged puts, 16 at a time, through any running member (more than the entries a leader keeps behind a snapshot plus a snapshot interval).</summary>
    private static async Task<int> LagAsync(AdminClient admin)
    {
        var acknowledged = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async writer =>
        {
            for (var i = writer; i < FaultKinds.SnapshotLagPuts; i += 16)
            {
                await admin.AnyAsync(m => admin.PutAsync(m, $"fill/{writer}", ByteString.CopyFromUtf8($"v{i}"), TimeSpan.FromSeconds(5)), TimeSpan.FromSeconds(60));
                Interlocked.Increment(ref acknowledged);
            }
        }));
        return acknowledged;
    }
}
