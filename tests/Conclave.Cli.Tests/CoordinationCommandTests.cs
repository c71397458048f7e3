using System.Globalization;
using System.Text.Json;

namespace Conclave.Cli.Tests;

/// <summary>lease, lock, elect, service, member and endpoint commands against one real member.</summary>
[Collection(ServerCollection.Name)]
public sealed class CoordinationCommandTests(ServerFixture server)
{
    [Fact]
    public async Task Lease_grant_attach_inspect_renew_list_and_revoke()
    {
        var grant = await server.OkAsync("lease", "grant", "60", "-w", "json");
        long id;
        using (var doc = JsonDocument.Parse(grant.Stdout))
        {
            id = doc.RootElement.GetProperty("ID").GetInt64();
            Assert.Equal(60, doc.RootElement.GetProperty("TTL").GetInt64());
        }
        var hex = id.ToString("x", CultureInfo.InvariantCulture);
        await server.OkAsync("put", "lease1/k", "v", "--lease", hex);

        var ttl = (await server.OkAsync("lease", "timetolive", hex, "--keys", "-w", "plain")).Stdout;
        Assert.StartsWith($"lease {hex} granted with TTL(60s), remaining(", ttl);
        Assert.EndsWith("attached keys([lease1/k])\n", ttl);
        Assert.Contains(hex, (await server.OkAsync("lease", "list", "-w", "plain")).Stdout);
        Assert.Equal($"lease {hex} keepalived with TTL(60)\n", (await server.OkAsync("lease", "keep-alive", hex, "--once", "-w", "plain")).Stdout);

        Assert.Equal($"lease {hex} revoked\n", (await server.OkAsync("lease", "revoke", hex, "-w", "plain")).Stdout);
        Assert.Equal(1, (await server.RunAsync("get", "lease1/k")).ExitCode); // the key went with the lease

        var gone = await server.RunAsync("lease", "timetolive", hex);
        Assert.Equal(1, gone.ExitCode);
        Assert.Equal($"Error: lease {hex} not found (expired, revoked or never granted)\n", gone.Stderr);
        var revokeAgain = await server.RunAsync("lease", "revoke", hex);
        Assert.Equal(1, revokeAgain.ExitCode);
        Assert.Contains("not found", revokeAgain.Stderr);
    }

    [Fact]
    public async Task Lock_runs_the_command_while_holding_and_exits_with_its_code()
    {
        var result = await Cli.RunAsync("lock", "locks/a", "--endpoints", server.Endpoint, "--", "sh", "-c", "echo \"key=$CONCLAVE_LOCK_KEY rev=$CONCLAVE_LOCK_REV\"; exit 7");
        Assert.True(result.ExitCode == 7, result.ToString());
        Assert.StartsWith("key=locks/a/", result.Stdout);
        // Released on exit.
        Assert.Equal("0\n", (await server.OkAsync("get", "locks/a/", "--prefix", "--count-only", "-w", "plain")).Stdout);
    }

    [Fact]
    public async Task A_held_lock_blocks_the_next_holder_until_the_first_is_terminated()
    {
        await using var first = new RunningCli("lock", "locks/b", "-w", "plain", "--endpoints", server.Endpoint);
        var key = await first.WaitForLineAsync(l => l.StartsWith("locks/b/", StringComparison.Ordinal), "the held lock key");

        await using var second = new RunningCli("lock", "locks/b", "--endpoints", server.Endpoint, "--", "sh", "-c", "echo second got it");
        // The second waits behind the first: its queued key exists and is not the holder.
        var waiting = await Cli.RunInProcessAsync("watch", "locks/b/", "--prefix", "--rev", "1", "--max-events", "2", "-w", "plain", "--endpoints", server.Endpoint);
        Assert.Equal(0, waiting.ExitCode);
        Assert.False(second.ExitedAsync.IsCompleted, $"the second holder finished while the first held the lock:\n{second.Stdout}");

        Assert.Equal(0, await first.TerminateAsync());
        await second.WaitForLineAsync(l => l == "second got it", "the second holder's command output");
        await second.ExitedAsync;
        Assert.Equal(0, second.ExitCode);
        Assert.DoesNotContain(key.Trim(), (await server.OkAsync("get", "locks/b/", "--prefix", "--keys-only", "-w", "plain")).Stdout);
    }

    [Fact]
    public async Task Elect_campaigns_observers_see_the_leader_and_terminating_resigns()
    {
        await using var campaigner = new RunningCli("elect", "elections/e", "node-1", "-w", "plain", "--endpoints", server.Endpoint);
        var key = (await campaigner.WaitForLineAsync(l => l.StartsWith("elections/e/", StringComparison.Ordinal), "the leader key")).Trim();

        var observed = await server.OkAsync("elect", "elections/e", "--listen", "--max-events", "1", "-w", "plain");
        Assert.Equal($"{key}\nnode-1\n", observed.Stdout);

        Assert.Equal(0, await campaigner.TerminateAsync());
        Assert.Equal("0\n", (await server.OkAsync("get", "elections/e/", "--prefix", "--count-only", "-w", "plain")).Stdout);
        Assert.Equal(2, (await server.RunAsync("elect", "elections/e", "node-2", "--listen")).ExitCode);
    }

    [Fact]
    public async Task Service_register_list_watch_and_deregister_on_termination()
    {
        await using var registration = new RunningCli("service", "register", "svc-t", "--address", "10.1.2.3", "--port", "8443",
            "--tag", "v2", "--tag", "blue", "--meta", "zone=a", "--ttl", "30", "-w", "plain", "--endpoints", server.Endpoint);
        await registration.WaitForLineAsync(l => l.StartsWith("services/svc-t/", StringComparison.Ordinal), "the registration key");

        var list = await server.OkAsync("service", "list", "svc-t", "--wait", "30s", "-w", "json");
        using (var doc = JsonDocument.Parse(list.Stdout))
        {
            var instance = doc.RootElement.GetProperty("instances")[0];
            Assert.Equal("10.1.2.3", instance.GetProperty("address").GetString());
            Assert.Equal(8443, instance.GetProperty("port").GetInt32());
            Assert.Equal(["v2", "blue"], instance.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            Assert.Equal("a", instance.GetProperty("meta").GetProperty("zone").GetString());
        }
        Assert.Contains("svc-t\n", (await server.OkAsync("service", "list", "-w", "plain")).Stdout);
        Assert.Equal("10.1.2.3:8443 10.1.2.3:8443 v2,blue\n", (await server.OkAsync("service", "watch", "svc-t", "--max-events", "1", "-w", "plain")).Stdout);

        Assert.Equal(0, await registration.TerminateAsync());
        Assert.Equal("", (await server.OkAsync("service", "list", "svc-t", "-w", "plain")).Stdout);
        var none = await server.RunAsync("service", "list", "svc-t", "--wait", "200ms");
        Assert.Equal(1, none.ExitCode);
        Assert.Equal("Error: no instance of svc-t registered within 200ms\n", none.Stderr);
    }

    [Fact]
    public async Task Member_and_endpoint_commands_describe_the_member()
    {
        var members = await server.OkAsync("member", "list", "-w", "json");
        string id;
        using (var doc = JsonDocument.Parse(members.Stdout))
        {
            var member = Assert.Single(doc.RootElement.GetProperty("members").EnumerateArray());
            Assert.Equal("default", member.GetProperty("name").GetString());
            Assert.Equal($"http://{server.Endpoint}", member.GetProperty("clientURLs")[0].GetString());
            id = member.GetProperty("ID").GetString()!;
        }

        var status = await server.OkAsync("endpoint", "status", "-w", "json");
        using (var doc = JsonDocument.Parse(status.Stdout))
        {
            var row = Assert.Single(doc.RootElement.EnumerateArray());
            Assert.Equal(id, row.GetProperty("member_id").GetString());
            Assert.True(row.GetProperty("is_leader").GetBoolean());
            Assert.True(row.GetProperty("raft_index").GetInt64() > 0);
        }
        var table = (await server.OkAsync("endpoint", "status", "--cluster")).Stdout;
        Assert.Contains("RAFT INDEX", table);
        Assert.Contains(id, table);
        Assert.StartsWith($"{server.Endpoint} is healthy", (await server.OkAsync("endpoint", "health", "-w", "plain")).Stdout);

        // A learner that never starts: added, cannot be promoted (not caught up), removed.
        var add = await server.OkAsync("member", "add", "extra", "--peer-urls", "http://127.0.0.1:9", "--learner", "-w", "json");
        string learner;
        using (var doc = JsonDocument.Parse(add.Stdout))
        {
            learner = doc.RootElement.GetProperty("member").GetProperty("ID").GetString()!;
            Assert.True(doc.RootElement.GetProperty("member").GetProperty("isLearner").GetBoolean());
        }
        var promote = await server.RunAsync("member", "promote", learner);
        Assert.Equal(1, promote.ExitCode);
        Assert.StartsWith("Error: etcdserver: ", promote.Stderr);
        Assert.Equal($"Member {learner} removed\n", (await server.OkAsync("member", "remove", learner, "-w", "plain")).Stdout);
        Assert.Equal(2, (await server.RunAsync("member", "remove", "not-hex")).ExitCode);
    }
}
