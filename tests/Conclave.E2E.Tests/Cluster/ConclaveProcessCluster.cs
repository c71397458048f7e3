using System.Globalization;
using Conclave.Api.Etcd.Protocol;
using Conclave.Testing.Etcd;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// N `conclave serve` processes on 127.0.0.1 (free ports, no proxies) forming one cluster with
/// etcd's flags; every data dir lives under one temporary folder that dispose deletes, after
/// killing every member it started (also on a failed start). Members are named m0, m1, ...;
/// <see cref="AddMemberProcess"/> prepares a joining member (--initial-cluster-state existing).
/// </summary>
public sealed class ConclaveProcessCluster : IAsyncDisposable
{
    /// <summary>
    /// How long a start, an election or a catch-up may take on a busy 2-core machine (at a load
    /// average of 90, `dotnet conclave.dll serve` alone took ~10 s to log its first line and 45 s
    /// was not always enough for 3 members to answer a linearizable read). A bound, not a duration.
    /// </summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly List<ClusterMemberProcess> _members = [];
    private readonly DirectoryInfo _root;
    private readonly IReadOnlyList<string> _extraArguments;

    private ConclaveProcessCluster(IReadOnlyList<string> extraArguments)
    {
        _extraArguments = extraArguments;
        _root = Directory.CreateTempSubdirectory("conclave-e2e-cluster-");
        Token = $"e2e-{Path.GetFileName(_root.FullName)}";
        // Last line of defence when the test host exits without disposing: no orphan servers.
        AppDomain.CurrentDomain.ProcessExit += KillOnExit;
    }

    private void KillOnExit(object? sender, EventArgs e)
    {
        foreach (var member in _members)
        {
            member.KillAsync().GetAwaiter().GetResult();
        }
    }

    /// <summary>--initial-cluster-token of this cluster (the cluster id derives from it).</summary>
    public string Token { get; }

    public IReadOnlyList<ClusterMemberProcess> Members => _members;

    /// <summary>Client URLs of every member, e.g. for a multi-endpoint client.</summary>
    public IReadOnlyList<string> ClientUrls => _members.Select(m => m.ClientUrl).ToList();

    /// <summary>
    /// Starts <paramref name="count"/> members with <paramref name="extraArguments"/> added to
    /// each, and waits until each answers a linearizable read.
    /// </summary>
    public static async Task<ConclaveProcessCluster> StartAsync(int count, params string[] extraArguments)
    {
        var cluster = new ConclaveProcessCluster(extraArguments);
        try
        {
            var ports = FreePort.Take(count * 3);
            var initialCluster = string.Join(',', Enumerable.Range(0, count).Select(i => $"m{i}=http://127.0.0.1:{ports[count + i]}"));
            for (var i = 0; i < count; i++)
            {
                cluster._members.Add(cluster.CreateMember($"m{i}", [ports[i], ports[count + i], ports[(2 * count) + i]], initialCluster, "new"));
            }

            foreach (var member in cluster._members)
            {
                member.Start();
            }

            await Task.WhenAll(cluster._members.Select(WaitReadyAsync));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Creates (does not start) a member that joins this cluster: --initial-cluster-state existing
    /// and the given --initial-cluster (as `etcdctl member add` prints it).
    /// </summary>
    public ClusterMemberProcess AddMemberProcess(string name, int[] ports, string initialCluster)
    {
        var member = CreateMember(name, ports, initialCluster, "existing");
        _members.Add(member);
        return member;
    }

    private ClusterMemberProcess CreateMember(string name, int[] ports, string initialCluster, string state)
    {
        var clientUrl = $"http://127.0.0.1:{ports[0]}";
        List<string> arguments =
        [
            "--name", name,
            "--data-dir", Path.Combine(_root.FullName, name),
            "--listen-client-urls", clientUrl,
            "--advertise-client-urls", clientUrl,
            "--listen-peer-urls", $"http://127.0.0.1:{ports[1]}",
            "--initial-advertise-peer-urls", $"http://127.0.0.1:{ports[1]}",
            "--listen-metrics-urls", $"http://127.0.0.1:{ports[2]}",
            "--initial-cluster", initialCluster,
            "--initial-cluster-state", state,
            "--initial-cluster-token", Token,
            "--heartbeat-interval", "100",
            "--election-timeout", "1000",
            .. _extraArguments,
        ];
        return new ClusterMemberProcess(name, ports[0], ports[1], ports[2], arguments);
    }

    /// <summary>
    /// Waits (<see cref="ReadinessProbe"/>) until the member answers a linearizable Range, so it has
    /// a leader and applied up to the read index; each attempt has 5 s. The member exiting or
    /// <see cref="Patience"/> passing fails with its log.
    /// </summary>
    public static async Task WaitReadyAsync(ClusterMemberProcess member)
    {
        var ready = await ReadinessProbe.WaitAsync(new Uri(member.ClientUrl), member.Exited, Patience, attemptTimeout: TimeSpan.FromSeconds(5));
        switch (ready.Outcome)
        {
            case Readiness.Exited:
                throw new InvalidOperationException($"{member.Name} exited before it was ready\n--- log ---\n{member.Log}");
            case Readiness.TimedOut:
                throw new TimeoutException(
                    $"{member.Name} did not answer a linearizable read within {Patience.TotalSeconds:0} s ({ready.LastError?.StatusCode}: {ready.LastError?.Status.Detail})\n--- log ---\n{member.Log}");
        }
    }

    /// <summary>Maintenance.Status of one member (one attempt, 5 s deadline).</summary>
    public static async Task<StatusResponse> StatusAsync(ClusterMemberProcess member)
    {
        using var channel = GrpcChannel.ForAddress(member.ClientUrl);
        return await new Maintenance.MaintenanceClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
    }

    /// <summary>
    /// Waits until every running member that <paramref name="include"/> accepts reports the same
    /// non-zero leader in Status, that leader is one of them and is not <paramref name="notLeader"/>;
    /// returns it. Retried every 100 ms until <see cref="Patience"/>.
    /// </summary>
    public async Task<ClusterMemberProcess> WaitForLeaderAsync(ulong notLeader = 0, Func<ClusterMemberProcess, bool>? include = null)
    {
        var deadline = DateTime.UtcNow + Patience;
        var seen = "";
        while (DateTime.UtcNow < deadline)
        {
            var members = _members.Where(m => m.IsRunning && (include?.Invoke(m) ?? true)).ToList();
            try
            {
                var statuses = await Task.WhenAll(members.Select(StatusAsync));
                seen = string.Join(", ", members.Zip(statuses, (m, s) => $"{m.Name}: id {s.Header.MemberId:x16} leader {s.Leader:x16} term {s.RaftTerm}"));
                var leader = statuses[0].Leader;
                if (leader != 0 && leader != notLeader && statuses.All(s => s.Leader == leader))
                {
                    var index = Array.FindIndex(statuses, s => s.Header.MemberId == leader);
                    if (index >= 0)
                    {
                        return members[index];
                    }
                }
            }
            catch (RpcException e)
            {
                seen = $"{e.StatusCode}: {e.Status.Detail}";
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        throw new TimeoutException($"no agreed leader (other than {notLeader:x16}) within {Patience.TotalSeconds:0} s; last seen: {seen}\n{AllLogs()}");
    }

    /// <summary>The member's id as Status reports it.</summary>
    public static async Task<ulong> MemberIdAsync(ClusterMemberProcess member) => (await StatusAsync(member)).Header.MemberId;

    /// <summary>Every member's log, for failure messages.</summary>
    public string AllLogs() => string.Join('\n', _members.Select(m => $"--- log of {m.Name} ---\n{m.Log}"));

    public static string Hex(ulong id) => id.ToString("x", CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        foreach (var member in _members)
        {
            await member.DisposeAsync();
        }

        try
        {
            _root.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
