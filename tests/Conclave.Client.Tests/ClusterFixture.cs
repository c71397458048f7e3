using Conclave.Robustness.Cluster;
using Conclave.Robustness.Faults;
using Conclave.Testing.Etcd;

namespace Conclave.Client.Tests;

/// <summary>
/// One three-member cluster of real server processes per test class (the robustness harness's
/// <see cref="ProcessCluster"/>: kill -9, restart over the same data directory). Tests share it,
/// so each uses its own key prefix, and a test that kills members restarts them
/// (<see cref="HealAsync"/>) before it ends, so the next test finds three live members.
/// </summary>
public abstract class ClusterFixture : IAsyncLifetime
{
    /// <summary>How long starting (or restarting) a member may take before the test fails.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private ProcessCluster? _cluster;

    public ProcessCluster Cluster => _cluster ?? throw new InvalidOperationException(
        EtcdTools.EtcdPath is null ? "etcd is not on PATH (Debian etcd-server)" : "the cluster was not started");

    /// <summary>"host:port" of every member, in member order.</summary>
    public IReadOnlyList<string> Endpoints => Cluster.ClientUrls.Select(u => u.Authority).ToList();

    /// <summary>A client of every member; <paramref name="rotate"/> shifts the endpoint order so clients spread their first requests.</summary>
    public ConclaveClient NewClient(int rotate = 0)
    {
        var endpoints = Endpoints;
        return new ConclaveClient(Enumerable.Range(0, endpoints.Count).Select(i => endpoints[(i + rotate) % endpoints.Count]), TestOptions.Client);
    }

    /// <summary>A client that knows only <paramref name="members"/>.</summary>
    public ConclaveClient NewClientOf(params int[] members) =>
        new(members.Select(m => Endpoints[m]), TestOptions.Client);

    /// <summary>The cluster to start, or null when its server is missing outside CI (the tests skip then).</summary>
    protected abstract ProcessCluster? Create();

    public async Task InitializeAsync()
    {
        _cluster = Create();
        if (_cluster is not null)
        {
            await _cluster.StartAsync(StartTimeout);
        }
    }

    /// <summary>
    /// The member the running members name as leader. Nothing announces an election to the
    /// test, so this asks every 100 ms, failing after <see cref="TestOptions.Patience"/>.
    /// </summary>
    public async Task<int> LeaderAsync()
    {
        var finder = new FaultInjector(Cluster, new Random(1));
        var giveUp = DateTime.UtcNow + TestOptions.Patience;
        while (DateTime.UtcNow < giveUp)
        {
            if (await finder.FindLeaderAsync() is { } leader)
            {
                return leader;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
        throw new TimeoutException($"expected within {TestOptions.Patience.TotalSeconds} s: the {Cluster.Target} members to agree on a leader");
    }

    /// <summary>Starts a killed member again and waits until it answers a linearizable read (it has caught up).</summary>
    public async Task RestartAsync(int member)
    {
        await Cluster.RestartAsync(member);
        await Cluster.WaitReadyAsync(member, StartTimeout);
    }

    /// <summary>Restarts every member that is down, so the next test of the class finds the whole cluster.</summary>
    public async Task HealAsync()
    {
        for (var member = 0; member < Cluster.Count; member++)
        {
            if (!Cluster.IsUp(member))
            {
                await Cluster.ResumeAsync(member);
                await RestartAsync(member);
            }
        }
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

/// <summary>Three `conclave serve` members: the conclave.dll built next to the tests.</summary>
public sealed class ConclaveClusterFixture : ClusterFixture
{
    protected override ProcessCluster? Create() => new ConclaveCluster(3, Path.Combine(AppContext.BaseDirectory, "conclave.dll"));
}

/// <summary>Three real etcd members (Debian's etcd-server).</summary>
public sealed class EtcdClusterFixture : ClusterFixture
{
    protected override ProcessCluster? Create() =>
        EtcdTools.EtcdPath is not null ? new EtcdCluster(3)
        : EtcdTools.IsCi ? throw new InvalidOperationException("etcd is not on PATH (Debian etcd-server); under CI=true the cluster tests fail")
        : null;
}

/// <summary>
/// A fact of the cluster tests. They run against Conclave and against a real etcd; outside CI a
/// missing etcd skips both (with the reason), under CI=true it fails them.
/// </summary>
public sealed class ClusterFactAttribute : FactAttribute
{
    public ClusterFactAttribute()
    {
        if (!EtcdTools.IsCi && EtcdTools.EtcdPath is null)
        {
            Skip = "etcd is not on PATH (Debian etcd-server); under CI=true this test fails instead of skipping";
        }
    }
}
