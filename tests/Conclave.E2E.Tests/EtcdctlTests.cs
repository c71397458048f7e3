using System.Text.RegularExpressions;
using Conclave.Testing.Etcd;

namespace Conclave.E2E.Tests;

/// <summary>Debian's etcdctl 3.4 against `conclave serve`.</summary>
public sealed partial class EtcdctlTests(ConclaveFixture fixture) : IClassFixture<ConclaveFixture>
{
    private readonly ConclaveProcess _server = fixture.Server;

    [EtcdFact]
    public async Task Put_get_variants_and_delete()
    {
        var ctl = _server.Etcdctl();
        foreach (var (k, v) in new[] { ("/kv/a", "1"), ("/kv/b", "2"), ("/kv/c", "3") })
        {
            Assert.Equal("OK\n", (await ctl.RunAsync("put", k, v)).EnsureSuccess().StdOut);
        }
        var firstRev = await RevisionOfAsync(ctl, "/kv/a");
        (await ctl.RunAsync("put", "/kv/a", "1b")).EnsureSuccess();

        Assert.Equal("/kv/a\n1b\n/kv/b\n2\n/kv/c\n3\n", (await ctl.RunAsync("get", "/kv/", "--prefix")).EnsureSuccess().StdOut);
        Assert.Equal("/kv/a\n1b\n", (await ctl.RunAsync("get", "/kv/", "--prefix", "--limit=1")).EnsureSuccess().StdOut);
        Assert.Equal("/kv/a\n1b\n/kv/c\n3\n/kv/b\n2\n", (await ctl.RunAsync("get", "/kv/", "--prefix", "--sort-by=MODIFY", "--order=DESCEND")).EnsureSuccess().StdOut);
        Assert.Equal("/kv/a\n1\n", (await ctl.RunAsync("get", "/kv/a", $"--rev={firstRev}")).EnsureSuccess().StdOut);
        Assert.Equal("/kv/a\n\n/kv/b\n\n/kv/c\n\n", (await ctl.RunAsync("get", "/kv/", "--prefix", "--keys-only")).EnsureSuccess().StdOut);
        Assert.Contains("\"count\":3", (await ctl.RunAsync("get", "/kv/", "--prefix", "-w", "json")).EnsureSuccess().StdOut, StringComparison.Ordinal);
        Assert.Equal("2\n", (await ctl.RunAsync("del", "/kv/b", "/kv/d")).EnsureSuccess().StdOut);
        Assert.Equal("/kv/a\n", (await ctl.RunAsync("get", "/kv/", "--prefix", "--keys-only")).EnsureSuccess().StdOut.Replace("\n\n", "\n", StringComparison.Ordinal));
    }

    [EtcdFact]
    public async Task Txn_from_stdin()
    {
        var ctl = _server.Etcdctl();
        const string createIfAbsent = "create(\"/txn/k\") = \"0\"\n\nput /txn/k first\n\nget /txn/k\n\n";

        var first = (await ctl.RunAsync(["txn"], stdin: createIfAbsent)).EnsureSuccess();
        var second = (await ctl.RunAsync(["txn"], stdin: createIfAbsent)).EnsureSuccess();

        Assert.Equal("SUCCESS\n\nOK\n", first.StdOut);
        Assert.Equal("FAILURE\n\n/txn/k\nfirst\n", second.StdOut);
    }

    [EtcdFact]
    public async Task Watch_prefix_from_a_revision_with_prev_kv()
    {
        var ctl = _server.Etcdctl();
        (await ctl.RunAsync("put", "/w/k", "v1")).EnsureSuccess();
        var start = await RevisionOfAsync(ctl, "/w/k");
        (await ctl.RunAsync("put", "/w/k", "v2")).EnsureSuccess();
        (await ctl.RunAsync("del", "/w/k")).EnsureSuccess();

        var watch = await ctl.RunUntilAsync(
            ["watch", "/w/", "--prefix", $"--rev={start}", "--prev-kv"],
            output => output.Split('\n').Count(l => l is "PUT" or "DELETE") == 3 && output.EndsWith("DELETE\n/w/k\nv2\n/w/k\n\n", StringComparison.Ordinal));

        Assert.True(watch.StoppedWhenComplete, watch.Describe());
        // etcdctl prints an event's previous kv before its kv.
        Assert.Equal("PUT\n/w/k\nv1\nPUT\n/w/k\nv1\n/w/k\nv2\nDELETE\n/w/k\nv2\n/w/k\n\n", watch.StdOut);
    }

    [EtcdFact]
    public async Task Lease_grant_keep_alive_time_to_live_revoke()
    {
        var ctl = _server.Etcdctl();
        var grant = (await ctl.RunAsync("lease", "grant", "60")).EnsureSuccess().StdOut;
        var id = LeaseId().Match(grant).Groups[1].Value;
        Assert.Equal($"lease {id} granted with TTL(60s)\n", grant);
        (await ctl.RunAsync("put", "/lease/k", "v", $"--lease={id}")).EnsureSuccess();

        Assert.Equal($"lease {id} keepalived with TTL(60)\n", (await ctl.RunAsync("lease", "keep-alive", "--once", id)).EnsureSuccess().StdOut);
        Assert.Matches($"^lease {id} granted with TTL\\(60s\\), remaining\\(\\d+s\\), attached keys\\(\\[/lease/k\\]\\)\n$", (await ctl.RunAsync("lease", "timetolive", id, "--keys")).EnsureSuccess().StdOut);
        Assert.Equal($"lease {id} revoked\n", (await ctl.RunAsync("lease", "revoke", id)).EnsureSuccess().StdOut);
        Assert.Equal("", (await ctl.RunAsync("get", "/lease/k")).EnsureSuccess().StdOut);
        Assert.Equal($"lease {id} already expired\n", (await ctl.RunAsync("lease", "timetolive", id)).EnsureSuccess().StdOut);
    }

    [EtcdFact]
    public async Task Compaction_then_old_revision_is_refused()
    {
        var ctl = _server.Etcdctl();
        (await ctl.RunAsync("put", "/compact/k", "v1")).EnsureSuccess();
        var old = await RevisionOfAsync(ctl, "/compact/k");
        (await ctl.RunAsync("put", "/compact/k", "v2")).EnsureSuccess();
        var now = await RevisionOfAsync(ctl, "/compact/k");

        Assert.Equal($"compacted revision {now}\n", (await ctl.RunAsync("compaction", now.ToString(System.Globalization.CultureInfo.InvariantCulture))).EnsureSuccess().StdOut);
        var get = await ctl.RunAsync("get", "/compact/k", $"--rev={old}");

        Assert.NotEqual(0, get.ExitCode);
        Assert.Contains("Error: etcdserver: mvcc: required revision has been compacted", get.StdErr, StringComparison.Ordinal);
        Assert.Equal("/compact/k\nv2\n", (await ctl.RunAsync("get", "/compact/k")).EnsureSuccess().StdOut);
    }

    [EtcdFact]
    public async Task Member_list_endpoint_status_and_health()
    {
        var ctl = _server.Etcdctl();
        var members = (await ctl.RunAsync("member", "list")).EnsureSuccess().StdOut;
        var status = (await ctl.RunAsync("endpoint", "status")).EnsureSuccess().StdOut;
        var health = (await ctl.RunAsync("endpoint", "health")).EnsureSuccess().StdOut + (await ctl.RunAsync("endpoint", "health")).StdErr;

        Assert.Matches($"^[0-9a-f]+, started, default, http://127.0.0.1:{_server.PeerPort}, http://127.0.0.1:{_server.ClientPort}, false\n$", members);
        Assert.Matches($"^127.0.0.1:{_server.ClientPort}, [0-9a-f]+, 3.6.0, \\d+ B, true, false, \\d+, \\d+, \\d+, \n$", status);
        Assert.Contains($"127.0.0.1:{_server.ClientPort} is healthy: successfully committed proposal", health, StringComparison.Ordinal);
    }

    [EtcdFact]
    public async Task Lock_runs_the_command_while_holding_the_lock()
    {
        var ctl = _server.Etcdctl();
        var locked = (await ctl.RunAsync("lock", "/locks/one", "echo", "inside")).EnsureSuccess();

        Assert.Equal("inside\n", locked.StdOut);
        Assert.Equal("", (await ctl.RunAsync("get", "/locks/one", "--prefix")).EnsureSuccess().StdOut);
    }

    [EtcdFact]
    public async Task Elect_campaigns_and_listen_sees_the_leader()
    {
        var ctl = _server.Etcdctl();
        var campaign = ctl.RunUntilAsync(["elect", "/elections/e", "proposal-1"], output => output.Contains("proposal-1\n", StringComparison.Ordinal));
        var campaigned = await campaign;
        Assert.True(campaigned.StoppedWhenComplete, campaigned.Describe());
        Assert.Matches("^/elections/e/[0-9a-f]+\nproposal-1\n$", campaigned.StdOut);
    }

    [EtcdFact]
    public async Task Snapshot_save_writes_a_file()
    {
        var ctl = _server.Etcdctl();
        (await ctl.RunAsync("put", "/snap/k", "v")).EnsureSuccess();
        var path = Path.Combine(_server.Directory, "snap.db");

        var save = (await ctl.RunAsync("snapshot", "save", path)).EnsureSuccess();

        Assert.Equal($"Snapshot saved at {path}\n", save.StdOut);
        Assert.True(new FileInfo(path).Length > 32);
    }

    [EtcdFact]
    public async Task Bad_input_gets_etcds_error_and_changes_nothing()
    {
        var ctl = _server.Etcdctl();
        (await ctl.RunAsync("put", "/bad/k", "v")).EnsureSuccess();
        var before = await RevisionOfAsync(ctl, "/bad/k");

        var tooMany = string.Concat(Enumerable.Range(0, 129).Select(i => $"put /bad/many{i} v\n")) + "\n\n";
        await ExpectErrorAsync(ctl, ["txn"], "etcdserver: too many operations in txn request", stdin: "\n" + tooMany);
        await ExpectErrorAsync(ctl, ["txn"], "etcdserver: duplicate key given in txn request", stdin: "\nput /bad/d 1\nput /bad/d 2\n\n\n");
        await ExpectErrorAsync(ctl, ["put", "/bad/l", "v", "--lease=1234abcd"], "etcdserver: requested lease not found");
        // Without a value argument etcdctl reads the value from stdin.
        await ExpectErrorAsync(ctl, ["put", "/bad/big"], "etcdserver: request is too large", stdin: new string('x', 1_600_000));

        var after = (await ctl.RunAsync("get", "/bad/", "--prefix", "-w", "json")).EnsureSuccess().StdOut;
        Assert.Contains($"\"revision\":{before},", after, StringComparison.Ordinal);
        Assert.Contains("\"count\":1", after, StringComparison.Ordinal);
    }

    private static async Task ExpectErrorAsync(Etcdctl ctl, string[] args, string message, string? stdin = null)
    {
        var result = await ctl.RunAsync(args, stdin);
        Assert.True(result.ExitCode != 0, result.Describe());
        Assert.Contains("Error: " + message, result.StdErr, StringComparison.Ordinal);
    }

    internal static async Task<long> RevisionOfAsync(Etcdctl ctl, string key)
    {
        var json = (await ctl.RunAsync("get", key, "-w", "json")).EnsureSuccess().StdOut;
        return long.Parse(ModRevision().Match(json).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("\"mod_revision\":(\\d+)")]
    private static partial Regex ModRevision();

    [GeneratedRegex("^lease ([0-9a-f]+) ")]
    private static partial Regex LeaseId();
}
