using Conclave.Testing.Etcd;

namespace Conclave.Api.Etcd.Tests;

/// <summary>python3-etcd3 (Debian, /usr/bin/python3) against a real etcd through the harness.</summary>
public sealed class PythonEtcd3HarnessTests(RealEtcdFixture fixture) : IClassFixture<RealEtcdFixture>
{
    private readonly RealEtcd _etcd = fixture.Etcd;

    [EtcdFact]
    public async Task Put_and_get_round_trip()
    {
        var result = (await _etcd.Python().RunAsync("""
            client.put("/py/a", "value-a")
            value, meta = client.get("/py/a")
            missing, _ = client.get("/py/none")
            print(value.decode(), meta.key.decode(), meta.version, missing)
            """)).EnsureSuccess();

        Assert.Equal("value-a /py/a 1 None\n", result.StdOut);
    }

    [EtcdFact]
    public async Task Lease_and_status_work()
    {
        var result = (await _etcd.Python().RunAsync("""
            lease = client.lease(60)
            client.put("/py/leased", "v", lease=lease)
            print(lease.granted_ttl, [m.key.decode() for (_, m) in client.get_prefix("/py/leased")])
            lease.revoke()
            print(list(client.get_prefix("/py/leased")))
            status = client.status()
            # status() is Status plus MemberList: the leader is found by id among the members.
            print(status.leader.name, status.raft_term > 0)
            """)).EnsureSuccess();

        Assert.Equal("60 ['/py/leased']\n[]\ndefault True\n", result.StdOut);
    }

    [EtcdFact]
    public async Task A_failing_snippet_reports_its_exit_code()
    {
        var result = await _etcd.Python().RunAsync("raise SystemExit(3)");

        Assert.Equal(3, result.ExitCode);
        Assert.False(result.Succeeded);
    }
}
