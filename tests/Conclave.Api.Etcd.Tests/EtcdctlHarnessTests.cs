using Conclave.Testing.Etcd;

namespace Conclave.Api.Etcd.Tests;

/// <summary>The harness drives Debian's etcdctl 3.4 against a real etcd and sees etcd's output.</summary>
public sealed class EtcdctlHarnessTests(RealEtcdFixture fixture) : IClassFixture<RealEtcdFixture>
{
    private readonly RealEtcd _etcd = fixture.Etcd;

    [EtcdFact]
    public async Task Put_then_get_prints_key_and_value()
    {
        var etcdctl = _etcd.Etcdctl();

        var put = (await etcdctl.RunAsync("put", "/ctl/get/a", "hello world")).EnsureSuccess();
        var get = (await etcdctl.RunAsync("get", "/ctl/get/a")).EnsureSuccess();
        var missing = (await etcdctl.RunAsync("get", "/ctl/get/none")).EnsureSuccess();

        Assert.Equal("OK\n", put.StdOut);
        Assert.Equal("/ctl/get/a\nhello world\n", get.StdOut);
        Assert.Equal("", missing.StdOut);
    }

    [EtcdFact]
    public async Task Txn_from_stdin_runs_the_success_branch_only_when_compares_hold()
    {
        var etcdctl = _etcd.Etcdctl();
        // Non-interactive txn: compares, blank line, success ops, blank line, failure ops, blank line.
        const string createIfAbsent = "create(\"/ctl/txn/k\") = \"0\"\n\nput /ctl/txn/k first\n\nget /ctl/txn/k\n\n";

        var first = (await etcdctl.RunAsync(["txn"], stdin: createIfAbsent)).EnsureSuccess();
        var second = (await etcdctl.RunAsync(["txn"], stdin: createIfAbsent)).EnsureSuccess();

        Assert.Equal("SUCCESS\n\nOK\n", first.StdOut);
        Assert.Equal("FAILURE\n\n/ctl/txn/k\nfirst\n", second.StdOut);
    }

    [EtcdFact]
    public async Task Watch_from_a_revision_replays_history_until_stopped()
    {
        var etcdctl = _etcd.Etcdctl();
        var startRevision = await CurrentRevisionAsync(etcdctl) + 1;
        (await etcdctl.RunAsync("put", "/ctl/watch/k", "v1")).EnsureSuccess();
        (await etcdctl.RunAsync("put", "/ctl/watch/k", "v2")).EnsureSuccess();
        (await etcdctl.RunAsync("del", "/ctl/watch/k")).EnsureSuccess();
        const string expected = "PUT\n/ctl/watch/k\nv1\nPUT\n/ctl/watch/k\nv2\nDELETE\n/ctl/watch/k\n\n";

        // etcdctl watch never exits by itself, even with --rev: stop it once all three events are out.
        var watch = await etcdctl.RunUntilAsync(
            ["watch", "/ctl/watch/k", $"--rev={startRevision}"],
            output => output.Split('\n').Count(line => line is "PUT" or "DELETE") == 3 && output.EndsWith("\n\n", StringComparison.Ordinal));

        Assert.True(watch.StoppedWhenComplete, watch.Describe());
        Assert.Equal(expected, watch.StdOut);
    }

    [EtcdFact]
    public async Task Lease_grant_attach_and_revoke()
    {
        var etcdctl = _etcd.Etcdctl();

        var grant = (await etcdctl.RunAsync("lease", "grant", "60")).EnsureSuccess();
        var leaseId = grant.StdOut.Split(' ')[1];
        (await etcdctl.RunAsync("put", "--lease=" + leaseId, "/ctl/lease/k", "v")).EnsureSuccess();
        var ttl = (await etcdctl.RunAsync("lease", "timetolive", leaseId, "--keys")).EnsureSuccess();
        var revoke = (await etcdctl.RunAsync("lease", "revoke", leaseId)).EnsureSuccess();
        var afterRevoke = (await etcdctl.RunAsync("get", "/ctl/lease/k")).EnsureSuccess();

        Assert.Matches(@"^lease [0-9a-f]{1,16} granted with TTL\(60s\)\n$", grant.StdOut);
        Assert.Matches(@$"^lease {leaseId} granted with TTL\(60s\), remaining\(\d+s\), attached keys\(\[/ctl/lease/k\]\)\n$", ttl.StdOut);
        Assert.Equal($"lease {leaseId} revoked\n", revoke.StdOut);
        Assert.Equal("", afterRevoke.StdOut);
    }

    [EtcdFact]
    public async Task Member_list_shows_the_single_member_masked()
    {
        var etcdctl = _etcd.Etcdctl();
        var mask = _etcd.OutputMask();

        var list = (await etcdctl.RunAsync("member", "list")).EnsureSuccess();
        var json = (await etcdctl.RunAsync("member", "list", "-w", "json")).EnsureSuccess();

        Assert.Equal(
            "<member-id>, started, default, http://127.0.0.1:<port>, http://127.0.0.1:<port>, false\n",
            mask.Mask(list.StdOut));
        Assert.Equal(
            "{\"header\":{\"cluster_id\":<cluster-id>,\"member_id\":<member-id>,\"raft_term\":\"<raft-term>\"}," +
            "\"members\":[{\"ID\":<member-id>,\"name\":\"default\",\"peerURLs\":[\"http://127.0.0.1:<port>\"]," +
            "\"clientURLs\":[\"http://127.0.0.1:<port>\"]}]}\n",
            mask.Mask(json.StdOut));
    }

    [EtcdFact]
    public async Task Endpoint_status_masks_to_a_stable_line()
    {
        var etcdctl = _etcd.Etcdctl();

        var status = (await etcdctl.RunAsync("endpoint", "status")).EnsureSuccess();

        Assert.Equal(
            "127.0.0.1:<port>, <member-id>, <version>, <db-size>, true, false, <raft-term>, <raft-index>, <raft-index>, \n",
            _etcd.OutputMask().Mask(status.StdOut));
    }

    [EtcdFact]
    public async Task Errors_reach_etcdctl_as_etcd_message_text()
    {
        var etcdctl = _etcd.Etcdctl();

        var result = await etcdctl.RunAsync("put", "--lease=1234", "/ctl/err/k", "v");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("Error: " + EtcdErrors.LeaseNotFound.Message + "\n", _etcd.OutputMask().Mask(result.StdErr));
    }

    private static async Task<long> CurrentRevisionAsync(Etcdctl etcdctl)
    {
        var json = (await etcdctl.RunAsync("get", "/ctl/none", "-w", "json")).EnsureSuccess().StdOut;
        using var document = System.Text.Json.JsonDocument.Parse(json);
        return document.RootElement.GetProperty("header").GetProperty("revision").GetInt64();
    }
}
