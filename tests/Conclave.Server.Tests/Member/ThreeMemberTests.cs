using Conclave.Server.Api;
using Conclave.Storage.Mvcc;
using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

public sealed class ThreeMemberTests
{
    [Fact]
    public async Task Writes_through_a_follower_are_answered_there_and_read_linearizably_everywhere()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var follower = c.Follower(leader);

        var rev = await follower.PutAsync("via-follower", "1");
        // A linearizable read on any member sees the acknowledged write at once.
        foreach (var m in c.Running)
        {
            Assert.Equal("1", await m.GetAsync("via-follower"));
            var r = await m.KeyValue.RangeAsync(RangeRequest.Single(B("via-follower")), false, CancellationToken.None);
            Assert.True(r.Header.Revision >= rev);
        }
        Assert.Equal(3, leader.StateMachine.Members.Count);
    }

    [Fact]
    public async Task Many_concurrent_reads_on_a_follower_share_read_index_rounds()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var follower = c.Follower(leader);
        await leader.PutAsync("x", "y");
        var reads = Enumerable.Range(0, 200).Select(_ => follower.GetAsync("x")).ToList();
        foreach (var value in await Task.WhenAll(reads))
        {
            Assert.Equal("y", value);
        }
    }

    [Fact]
    public async Task When_the_leader_stops_a_new_one_is_elected_and_every_acknowledged_write_is_readable()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var acknowledged = new List<string>();
        for (var i = 0; i < 30; i++)
        {
            await c.Running.ElementAt(i % 3).PutAsync($"k{i}", $"v{i}");
            acknowledged.Add($"k{i}");
        }
        var oldId = leader.MemberId;
        await c.StopMemberAsync(c.NameOf(leader));

        var next = await c.LeaderAsync();
        Assert.NotEqual(oldId, next.MemberId);
        foreach (var m in c.Running)
        {
            foreach (var key in acknowledged)
            {
                Assert.Equal("v" + key[1..], await m.GetAsync(key));
            }
        }
        await next.PutRetryAsync("after", "failover");
        Assert.Equal("failover", await c.Follower(next).GetAsync("after"));
    }

    [Fact]
    public async Task A_restarted_follower_catches_up_with_what_it_missed()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var name = c.NameOf(c.Follower(leader));
        await leader.PutAsync("before", "1");
        await c.StopMemberAsync(name);
        await leader.PutAsync("while-down", "2");

        var back = await c.StartMemberAsync(name);
        await c.LeaderAsync();
        Assert.Equal("1", await back.GetAsync("before"));
        Assert.Equal("2", await back.GetAsync("while-down"));
    }

    [Fact]
    public async Task After_every_member_stops_and_restarts_every_acknowledged_write_is_there()
    {
        await using var c = await TestCluster.StartAsync(3, configure: o => o with { SnapshotCount = 16, SnapshotCatchUpEntries = 4 });
        var leader = await c.LeaderAsync();
        var writes = Enumerable.Range(0, 50).Select(i => c.Running.ElementAt(i % 3).PutAsync($"r{i}", $"{i}")).ToList();
        await Task.WhenAll(writes);
        var revision = leader.StateMachine.Store.CurrentRevision;
        foreach (var name in c.Members.Keys.ToList())
        {
            await c.StopMemberAsync(name);
        }

        await Task.WhenAll(c.Initial.Keys.Select(name => c.StartMemberAsync(name)));
        await c.LeaderAsync();
        foreach (var m in c.Running)
        {
            for (var i = 0; i < 50; i++)
            {
                Assert.Equal($"{i}", await m.GetAsync($"r{i}"));
            }
            Assert.True(m.StateMachine.Store.CurrentRevision >= revision);
            Assert.Equal(3, m.StateMachine.Members.Count);
        }
    }

    [Fact]
    public async Task A_member_far_behind_is_caught_up_by_a_snapshot()
    {
        await using var c = await TestCluster.StartAsync(3, configure: o => o with { SnapshotCount = 10, SnapshotCatchUpEntries = 3 });
        var leader = await c.LeaderAsync();
        var name = c.NameOf(c.Follower(leader));
        await c.StopMemberAsync(name);
        for (var i = 0; i < 60; i++)
        {
            await leader.PutAsync($"k{i}", $"v{i}");
        }
        var revision = leader.StateMachine.Store.CurrentRevision;
        var hash = leader.StateMachine.Store.HashKV(revision).Hash;

        var back = await c.StartMemberAsync(name);
        await EventuallyAsync(() => back.StateMachine.Store.CurrentRevision >= revision, $"the restarted member to reach revision {revision}");
        Assert.Equal(hash, back.StateMachine.Store.HashKV(revision).Hash);
        Assert.Equal("v59", await back.GetAsync("k59", serializable: true));
        // It went through a snapshot: the leader's log no longer held what it missed.
        Assert.True(Directory.GetFiles(Path.Combine(c.Root, name, "member", "snap"), "*.snap").Length >= 1);
        Assert.True(back.StateMachine.AppliedIndex > 10);
    }

    [Fact]
    public async Task Member_add_as_learner_then_promote_then_remove()
    {
        await using var c = await TestCluster.StartAsync(3, configure: o => o with { SnapshotCount = 20, SnapshotCatchUpEntries = 5 });
        var leader = await c.LeaderAsync();
        for (var i = 0; i < 30; i++)
        {
            await leader.PutAsync($"k{i}", $"v{i}");
        }
        var urls = new[] { "http://10.0.0.4:2380" };
        var added = await c.Follower(leader).Cluster.MemberAddAsync(urls, isLearner: true, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, added.Status);
        Assert.True(added.Value!.IsLearner);
        var again = await leader.Cluster.MemberAddAsync(urls, isLearner: true, CancellationToken.None);
        Assert.Equal(ServerStatus.MemberExists, again.Status);

        // Not started yet, so it has nothing: promotion must wait.
        var early = await leader.Cluster.MemberPromoteAsync(added.Value.Id, CancellationToken.None);
        Assert.Equal(ServerStatus.LearnerNotReady, early.Status);

        var initial = new Dictionary<string, IReadOnlyList<string>>(c.Initial) { ["m4"] = urls };
        var learner = await c.StartMemberAsync("m4", InitialClusterState.Existing, initial);
        Assert.Equal(added.Value.Id, learner.MemberId);
        await EventuallyAsync(() => learner.StateMachine.Store.CurrentRevision == leader.StateMachine.Store.CurrentRevision, "the learner to catch up", () => c.Log.ToString());
        Assert.Equal("v29", await learner.GetAsync("k29"));

        // Promote through a follower: it forwards to the leader, which checks the learner's progress.
        var promoted = await c.Follower(leader).Cluster.MemberPromoteAsync(learner.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, promoted.Status);
        Assert.False(promoted.Value!.Single(m => m.Id == learner.MemberId).IsLearner);
        var notLearner = await leader.Cluster.MemberPromoteAsync(learner.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.MemberNotLearner, notLearner.Status);

        var list = await learner.Cluster.MemberListAsync(linearizable: true, CancellationToken.None);
        Assert.Equal(4, list.Value!.Count);

        var removed = await leader.Cluster.MemberRemoveAsync(learner.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, removed.Status);
        Assert.Equal(3, removed.Value!.Count);
        await EventuallyAsync(() => c.Running.Where(m => m != learner).All(m => m.StateMachine.Members.Count == 3), "every member to apply the removal");
        var missing = await leader.Cluster.MemberRemoveAsync(learner.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.MemberNotFound, missing.Status);
        await leader.PutAsync("after-remove", "ok");
    }

    [Fact]
    public async Task Move_leader_transfers_leadership_to_the_target()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var target = c.Follower(leader);
        var notLeader = await target.Maintenance.MoveLeaderAsync(leader.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.NotLeader, notLeader.Status);
        var r = await leader.Maintenance.MoveLeaderAsync(target.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, r.Status);
        Assert.Equal(target.MemberId, (await c.LeaderAsync()).MemberId);
        var status = await target.Maintenance.StatusAsync(CancellationToken.None);
        Assert.Equal(target.MemberId, status.Value!.Leader);
    }
}
