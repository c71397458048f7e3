using System.Globalization;
using System.Text.RegularExpressions;
using Conclave.Testing.Etcd;
using Xunit.Abstractions;

namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// Issue 4: membership changes with Debian's etcdctl on a cluster of real processes — add a 4th
/// member as a learner, start it with what etcdctl printed, promote it, remove a follower and then
/// the leader; the cluster keeps serving writes throughout.
/// </summary>
[Collection(RealClusterCollection.Name)]
public sealed partial class MembershipTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"^Member +([0-9a-f]+) added to cluster ([0-9a-f]+)$", RegexOptions.Multiline)]
    private static partial Regex Added();

    [GeneratedRegex("^ETCD_INITIAL_CLUSTER=\"([^\"]+)\"$", RegexOptions.Multiline)]
    private static partial Regex InitialCluster();

    [EtcdFact]
    public async Task Add_a_learner_promote_it_then_remove_a_follower_and_the_leader()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var cluster = await ConclaveProcessCluster.StartAsync(3);
        output.WriteLine($"{clock.Elapsed}: started");
        var ctl = (await cluster.WaitForLeaderAsync()).Etcdctl();
        for (var i = 0; i < 20; i++)
        {
            (await ctl.RunAsync("put", $"/mem/k{i:D2}", $"v{i}")).EnsureSuccess();
        }

        output.WriteLine($"{clock.Elapsed}: member add --learner");
        // 1. member add --learner: etcdctl prints the environment for the new member.
        var ports = FreePort.Take(3);
        var add = (await ctl.RunAsync("member", "add", "d", "--learner", $"--peer-urls=http://127.0.0.1:{ports[1]}")).EnsureSuccess();
        output.WriteLine(add.StdOut);
        var addedId = Added().Match(add.StdOut) is { Success: true } a ? a.Groups[1].Value : throw new InvalidOperationException(add.Describe());
        var initialCluster = InitialCluster().Match(add.StdOut).Groups[1].Value;
        Assert.Contains("ETCD_NAME=\"d\"", add.StdOut, StringComparison.Ordinal);
        Assert.Contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\"", add.StdOut, StringComparison.Ordinal);
        Assert.Contains($"d=http://127.0.0.1:{ports[1]}", initialCluster, StringComparison.Ordinal);
        var listed = (await ctl.RunAsync("member", "list")).EnsureSuccess().StdOut;
        Assert.Contains($"{addedId}, unstarted, , http://127.0.0.1:{ports[1]}, , true", listed, StringComparison.Ordinal);

        output.WriteLine($"{clock.Elapsed}: start d");
        // 2. Start it with etcdctl's --initial-cluster and state existing; the leader sends it a snapshot.
        var d = cluster.AddMemberProcess("d", ports, initialCluster);
        d.Start();
        await d.WaitForLineAsync(l => l.Contains("installed the leader's snapshot", StringComparison.Ordinal), "the learner to install the leader's snapshot", ConclaveProcessCluster.Patience);
        var onLearner = (await d.Etcdctl().RunAsync("get", "/mem/k19", "--consistency=s", "--print-value-only")).EnsureSuccess();
        Assert.Equal("v19\n", onLearner.StdOut);
        Assert.Equal(ulong.Parse(addedId, NumberStyles.HexNumber, CultureInfo.InvariantCulture), await ConclaveProcessCluster.MemberIdAsync(d));

        output.WriteLine($"{clock.Elapsed}: promote");
        // 3. Promote: refused with LearnerNotReady until the learner is in sync, so retried until it is.
        var promote = await RetryAsync(() => ctl.RunAsync("member", "promote", addedId), "member promote");
        Assert.Contains($"Member {Padded(addedId)} promoted in cluster", promote.StdOut, StringComparison.Ordinal);
        // MemberList is answered from the member's own applied table (as in etcd 3.4), so ask the
        // member that made the change: it has applied it.
        listed = (await ctl.RunAsync("member", "list")).EnsureSuccess().StdOut;
        output.WriteLine(listed);
        Assert.Contains($"{addedId}, started, d, http://127.0.0.1:{ports[1]}, {d.ClientUrl}, false", listed, StringComparison.Ordinal);
        Assert.Equal(4, Lines(listed).Length);

        output.WriteLine($"{clock.Elapsed}: remove a follower");
        // 4. Remove a follower (one of the original three), asking the current leader.
        var leader = await cluster.WaitForLeaderAsync();
        var follower = cluster.Members.First(m => m != leader && m != d);
        ctl = leader.Etcdctl();
        var followerId = ConclaveProcessCluster.Hex(await ConclaveProcessCluster.MemberIdAsync(follower));
        var remove = (await ctl.RunAsync("member", "remove", followerId)).EnsureSuccess();
        Assert.Contains($"Member {Padded(followerId)} removed from cluster", remove.StdOut, StringComparison.Ordinal);
        listed = (await ctl.RunAsync("member", "list")).EnsureSuccess().StdOut;
        output.WriteLine(listed);
        Assert.Equal(3, Lines(listed).Length);
        Assert.DoesNotContain(followerId, listed, StringComparison.Ordinal);
        (await d.Etcdctl().RunAsync("put", "/mem/after-follower-removal", "ok")).EnsureSuccess();
        var removedFollowerServes = await follower.Etcdctl().RunAsync(["get", "/mem/k00", "--print-value-only", "--command-timeout=2s"], timeout: TimeSpan.FromSeconds(15));
        // The removed follower may never learn of its removal: the leader stops replicating to it
        // once it applies the change, possibly before the follower got the commit (etcd stops a
        // removed member when its peers reject it; Conclave does not yet). So this is reported, not asserted.
        // A member that does apply its removal stops, and `conclave serve` exits (asserted for the leader below).
        var followerKnows = follower.Log.Contains("permanently removed from the cluster", StringComparison.Ordinal);
        output.WriteLine($"removed follower logged its removal: {followerKnows}; still running: {follower.IsRunning}; a linearizable get on it: exit {removedFollowerServes.ExitCode} {removedFollowerServes.StdOut.Trim()} {removedFollowerServes.StdErr.Trim()}");

        output.WriteLine($"{clock.Elapsed}: remove the leader");
        // 5. Remove the leader (etcd allows it); the other two elect a leader and take writes.
        leader = await cluster.WaitForLeaderAsync(include: m => m != follower);
        ctl = leader.Etcdctl();
        var remaining = cluster.Members.Where(m => m != follower && m != leader).ToList();
        var leaderId = await ConclaveProcessCluster.MemberIdAsync(leader);
        var fromLine = leader.LineCount;
        var removeLeader = (await ctl.RunAsync("member", "remove", ConclaveProcessCluster.Hex(leaderId))).EnsureSuccess();
        Assert.Contains($"Member {Padded(ConclaveProcessCluster.Hex(leaderId))} removed from cluster", removeLeader.StdOut, StringComparison.Ordinal);
        await leader.WaitForLineAsync(l => l.Contains("permanently removed from the cluster; exiting", StringComparison.Ordinal), "the removed leader to log its removal and exit", ConclaveProcessCluster.Patience, fromLine);
        var newLeader = await cluster.WaitForLeaderAsync(notLeader: leaderId, include: remaining.Contains);
        var put = await RetryAsync(() => newLeader.Etcdctl().RunAsync("put", "/mem/after-leader-removal", "ok"), "a put after the leader's removal");
        listed = (await newLeader.Etcdctl().RunAsync("member", "list")).EnsureSuccess().StdOut;
        output.WriteLine(listed);
        var onOther = (await remaining.First(m => m != newLeader).Etcdctl().RunAsync("get", "/mem/", "--prefix", "--keys-only")).EnsureSuccess().StdOut;
        var removedLeaderServes = await leader.Etcdctl().RunAsync(["put", "/mem/from-removed-leader", "x", "--command-timeout=2s"], timeout: TimeSpan.FromSeconds(15));
        output.WriteLine($"removed leader still running: {leader.IsRunning}; a put on it: exit {removedLeaderServes.ExitCode} {removedLeaderServes.StdOut.Trim()} {removedLeaderServes.StdErr.Trim()}");

        output.WriteLine($"{clock.Elapsed}: checks");
        Assert.Equal("OK\n", put.StdOut);
        Assert.Equal(2, Lines(listed).Length);
        Assert.DoesNotContain(ConclaveProcessCluster.Hex(leaderId), listed, StringComparison.Ordinal);
        Assert.All(remaining, m => Assert.Contains($", started, {m.Name}, ", listed, StringComparison.Ordinal));
        Assert.Contains("/mem/after-follower-removal", onOther, StringComparison.Ordinal);
        Assert.Contains("/mem/after-leader-removal", onOther, StringComparison.Ordinal);
        Assert.Contains("/mem/k19", onOther, StringComparison.Ordinal);
    }

    /// <summary>etcdctl prints ids in these messages with %16x: space-padded to 16 characters.</summary>
    private static string Padded(string hexId) => hexId.PadLeft(16);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Runs an etcdctl command until it succeeds (every 200 ms, at most <see cref="ConclaveProcessCluster.Patience"/>).</summary>
    private static async Task<ToolResult> RetryAsync(Func<Task<ToolResult>> run, string what)
    {
        var deadline = DateTime.UtcNow + ConclaveProcessCluster.Patience;
        while (true)
        {
            var result = await run();
            if (result.Succeeded || DateTime.UtcNow > deadline)
            {
                return result.Succeeded ? result : throw new TimeoutException($"{what} did not succeed within {ConclaveProcessCluster.Patience.TotalSeconds:0} s: {result.Describe()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200));
        }
    }
}
