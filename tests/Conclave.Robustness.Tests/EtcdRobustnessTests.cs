using Conclave.Robustness.Cluster;
using Conclave.Robustness.Faults;
using Conclave.Testing.Etcd;
using Xunit.Abstractions;

namespace Conclave.Robustness.Tests;

/// <summary>The harness proven against a real 3-member etcd: faults take effect and a correct server passes.</summary>
public sealed class EtcdRobustnessTests(ITestOutputHelper output)
{
    [EtcdBinaryFact]
    public async Task A_short_run_under_several_fault_kinds_reports_no_violations()
    {
        // Seed 3 draws partition, pause, delay, one-way loss and kill faults in its first 30 s.
        var options = new RunOptions { Target = TargetKind.Etcd, Members = 3, Duration = TimeSpan.FromSeconds(30), Seed = 3 };
        var report = await RobustnessRun.RunAsync(options, output.WriteLine);
        output.WriteLine(report.Summary());
        Assert.True(report.Passed, $"{string.Join('\n', report.Violations)}\nhistory: {report.FailureFolder}\nreproduce: {options.ReproduceCommand}");
        Assert.True(report.Faults.Select(f => f.Kind).Distinct().Count() >= 3, $"expected at least 3 fault kinds, got {report.Summary()}");
        Assert.True(report.Acknowledged > 100, $"expected a working workload, got {report.Summary()}");
        Assert.True(report.WatchEvents > 0, $"expected watch events, got {report.Summary()}");
    }

    [EtcdBinaryFact]
    public async Task A_leader_that_cannot_send_is_replaced_and_an_isolated_member_is_cut_off()
    {
        await using var cluster = new EtcdCluster(3);
        await cluster.StartAsync(TimeSpan.FromSeconds(60));
        var injector = new FaultInjector(cluster, new Random(1));
        var leader = await injector.FindLeaderAsync() ?? throw new InvalidOperationException("expected a leader after start");
        var (members, recover) = await injector.InjectAsync(FaultKind.LeaderCannotSend);
        Assert.Equal([leader], members);
        var injected = System.Diagnostics.Stopwatch.StartNew();
        var next = await WaitForLeaderAsync(injector, l => l != leader, $"a leader other than {leader} while {leader} cannot send");
        output.WriteLine($"leader {leader} cannot send; new leader {next} seen after {injected.Elapsed.TotalSeconds:0.0} s");
        await recover();

        await using var isolated = new EtcdCluster(3);
        await isolated.StartAsync(TimeSpan.FromSeconds(60));
        var isolatedInjector = new FaultInjector(isolated, new Random(2));
        var first = await isolatedInjector.FindLeaderAsync() ?? throw new InvalidOperationException("expected a leader after start");
        await isolatedInjector.InjectAsync(FaultKind.PartitionLeaderWithMinority);
        injected.Restart();
        var second = await WaitForLeaderAsync(isolatedInjector, l => l != first, $"a leader other than the isolated {first}");
        output.WriteLine($"leader {first} isolated; new leader {second} seen after {injected.Elapsed.TotalSeconds:0.0} s; proxies cut {isolated.PeerConnectionsCut} connections");
        Assert.True(isolated.PeerConnectionsCut > 0, "expected the proxies to cut connections");
    }

    /// <summary>Asks for the leader every 200 ms until <paramref name="wanted"/> holds; fails after 20 s with <paramref name="expected"/>.</summary>
    private static async Task<int> WaitForLeaderAsync(FaultInjector injector, Func<int, bool> wanted, string expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        int? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await injector.FindLeaderAsync();
            if (last is { } leader && wanted(leader))
            {
                return leader;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"expected {expected} within 20 s; last leader seen: {last?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}");
        return -1;
    }
}
