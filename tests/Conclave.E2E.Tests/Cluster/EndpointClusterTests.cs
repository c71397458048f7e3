using System.Text.Json;
using Conclave.Testing.Etcd;

namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// `endpoint status --cluster` and `endpoint health --cluster` against a 3-member cluster of real
/// processes: etcdctl 3.4 dials the client URLs of MemberList ("http://127.0.0.1:PORT") and then
/// sends that whole URL as the HTTP/2 :authority, which Kestrel alone used to reset with
/// PROTOCOL_ERROR (see docs/etcd-compat.md, "endpoint status / health").
/// </summary>
[Collection(RealClusterCollection.Name)]
public sealed class EndpointClusterTests(ThreeMemberClusterFixture fixture) : IClassFixture<ThreeMemberClusterFixture>
{
    [EtcdFact]
    public async Task Etcdctl_endpoint_status_and_health_with_cluster_reach_every_member()
    {
        var cluster = fixture.Cluster;
        await cluster.WaitForLeaderAsync();
        var ctl = cluster.Members[1].Etcdctl();
        var urls = cluster.ClientUrls.Order(StringComparer.Ordinal).ToList();

        var members = JsonDocument.Parse((await ctl.RunAsync("member", "list", "-w", "json")).EnsureSuccess().StdOut);
        var advertised = members.RootElement.GetProperty("members").EnumerateArray()
            .SelectMany(m => m.GetProperty("clientURLs").EnumerateArray().Select(u => u.GetString()!))
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(urls, advertised);

        var statusRun = (await ctl.RunAsync("endpoint", "status", "--cluster", "-w", "json")).EnsureSuccess();
        var statuses = JsonDocument.Parse(statusRun.StdOut).RootElement.EnumerateArray().ToList();
        Assert.Equal(urls, statuses.Select(s => s.GetProperty("Endpoint").GetString()!).Order(StringComparer.Ordinal));
        var bodies = statuses.Select(s => s.GetProperty("Status")).ToList();
        var leaders = bodies.Select(b => b.GetProperty("leader").GetUInt64()).Distinct().ToList();
        Assert.Single(leaders);
        Assert.Single(bodies, b => b.GetProperty("header").GetProperty("member_id").GetUInt64() == leaders[0]);
        Assert.Single(bodies.Select(b => b.GetProperty("raftTerm").GetUInt64()).Distinct());
        Assert.Equal(3, bodies.Select(b => b.GetProperty("header").GetProperty("member_id").GetUInt64()).Distinct().Count());

        var table = (await ctl.RunAsync("endpoint", "status", "--cluster", "-w", "table")).EnsureSuccess().StdOut;
        Assert.All(urls, u => Assert.Contains($"| {u} |", table, StringComparison.Ordinal));

        var health = (await ctl.RunAsync("endpoint", "health", "--cluster")).EnsureSuccess();
        var healthLines = (health.StdOut + health.StdErr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(urls, u => Assert.Single(healthLines, l => l.StartsWith($"{u} is healthy: successfully committed proposal", StringComparison.Ordinal)));

        // The same holds for any endpoint given with its scheme, not only for --cluster.
        var withScheme = new Etcdctl(cluster.Members[2].ClientUrl);
        (await withScheme.RunAsync("put", "/endpoint-cluster/k", "v")).EnsureSuccess();
        Assert.Equal("/endpoint-cluster/k\nv\n", (await withScheme.RunAsync("get", "/endpoint-cluster/k")).EnsureSuccess().StdOut);
    }

    [EtcdFact]
    public async Task Conclave_endpoint_status_and_health_with_cluster_reach_every_member()
    {
        var cluster = fixture.Cluster;
        await cluster.WaitForLeaderAsync();
        var urls = cluster.ClientUrls.Order(StringComparer.Ordinal).ToList();
        var endpoint = $"--endpoints={cluster.Members[0].Endpoint}";

        var statusRun = (await ConclaveCliAsync("endpoint", "status", "--cluster", endpoint, "-w", "json")).EnsureSuccess();
        var rows = JsonDocument.Parse(statusRun.StdOut).RootElement.EnumerateArray().ToList();
        Assert.Equal(urls, rows.Select(r => r.GetProperty("endpoint").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(rows, r => Assert.Equal(0, r.GetProperty("errors").GetArrayLength()));
        Assert.Single(rows, r => r.GetProperty("is_leader").GetBoolean());
        Assert.Single(rows.Select(r => r.GetProperty("raft_term").GetUInt64()).Distinct());

        var health = (await ConclaveCliAsync("endpoint", "health", "--cluster", endpoint)).EnsureSuccess();
        Assert.All(urls, u => Assert.Contains(u, health.StdOut, StringComparison.Ordinal));
    }

    private static Task<ToolResult> ConclaveCliAsync(params string[] arguments) =>
        ToolProcess.RunAsync("dotnet", arguments.Prepend(ConclaveProcess.ConclaveDll), ConclaveProcessCluster.Patience);
}
