using Conclave.Server.Api;
using Conclave.Server.Services;
using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

/// <summary>etcd's --strict-reconfig-check on a running cluster, and its rules as a table (etcd server.go may*Member, cluster.go IsReadyTo*).</summary>
public sealed class ReconfigurationTests
{
    [Fact]
    public async Task With_a_voter_down_adds_and_removing_a_live_voter_are_refused_but_the_down_voter_may_be_removed()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var follower = c.Follower(leader);
        var down = c.Running.First(m => m != leader && m != follower);
        var downId = down.MemberId;
        await c.StopMemberAsync(c.NameOf(down));
        await InactiveOnLeaderAsync(leader, downId);
        var index = leader.AppliedIndex;

        // 2 of 3 voters active; with a 4th the quorum is 3: even a learner is refused (etcd counts the new member as down).
        var voter = await follower.Cluster.MemberAddAsync(["http://10.0.0.4:2380"], isLearner: false, CancellationToken.None);
        Assert.Equal(ServerStatus.Unhealthy, voter.Status);
        var learner = await leader.Cluster.MemberAddAsync(["http://10.0.0.4:2380"], isLearner: true, CancellationToken.None);
        Assert.Equal(ServerStatus.Unhealthy, learner.Status);

        // Removing a live voter would leave 1 active of 2.
        var live = await follower.Cluster.MemberRemoveAsync(follower.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.Unhealthy, live.Status);
        var self = await leader.Cluster.MemberRemoveAsync(leader.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.Unhealthy, self.Status);
        Assert.Equal(index, leader.AppliedIndex);
        Assert.Equal(3, leader.StateMachine.Members.Count);

        // The down voter is not part of the active quorum: it may go.
        var removed = await follower.Cluster.MemberRemoveAsync(downId, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, removed.Status);
        Assert.DoesNotContain(removed.Value!, m => m.Id == downId);
        await leader.PutAsync("after", "ok");
    }

    [Fact]
    public async Task Voters_that_never_started_count_against_the_started_quorum()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var follower = c.Follower(leader);

        // 3 started voters: a 4th and a 5th (never started) keep 3 started, a quorum of 5.
        var m4 = await leader.Cluster.MemberAddAsync(["http://10.0.0.4:2380"], isLearner: false, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, m4.Status);
        var m5 = await follower.Cluster.MemberAddAsync(["http://10.0.0.5:2380"], isLearner: false, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, m5.Status);
        var index = leader.AppliedIndex;

        // A 6th needs 4 started; removing a started voter leaves 2 started of 4.
        var m6 = await follower.Cluster.MemberAddAsync(["http://10.0.0.6:2380"], isLearner: false, CancellationToken.None);
        Assert.Equal(ServerStatus.NotEnoughStartedMembers, m6.Status);
        var remove = await leader.Cluster.MemberRemoveAsync(follower.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.NotEnoughStartedMembers, remove.Status);
        Assert.Equal(index, leader.AppliedIndex);

        // Removing an unstarted (and inactive) voter is fine.
        var removed = await follower.Cluster.MemberRemoveAsync(m5.Value!.Id, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, removed.Status);
        Assert.Equal(4, removed.Value!.Count);
    }

    [Fact]
    public async Task One_learner_at_most_and_a_learner_is_promoted_only_once_in_sync()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        for (var i = 0; i < 20; i++)
        {
            await leader.PutAsync($"k{i}", "v");
        }
        var first = await c.Follower(leader).Cluster.MemberAddAsync(["http://10.0.0.4:2380"], isLearner: true, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, first.Status);
        var second = await leader.Cluster.MemberAddAsync(["http://10.0.0.5:2380"], isLearner: true, CancellationToken.None);
        Assert.Equal(ServerStatus.TooManyLearners, second.Status);
        var secondViaFollower = await c.Follower(leader).Cluster.MemberAddAsync(["http://10.0.0.5:2380"], isLearner: true, CancellationToken.None);
        Assert.Equal(ServerStatus.TooManyLearners, secondViaFollower.Status);

        // Never started, so it holds nothing: not in sync.
        var early = await c.Follower(leader).Cluster.MemberPromoteAsync(first.Value!.Id, CancellationToken.None);
        Assert.Equal(ServerStatus.LearnerNotReady, early.Status);
        Assert.True(leader.StateMachine.Members[first.Value.Id].IsLearner);
    }

    public static TheoryData<string, bool, ServerStatus> Adds => new()
    {
        // voters as id:started/active ("s"/"-", "a"/"-")
        { "1:sa", false, ServerStatus.Ok },              // 1 → 2 always allowed (etcd's restore path)
        { "1:sa 2:--", false, ServerStatus.NotEnoughStartedMembers },
        { "1:sa 2:sa 3:sa", false, ServerStatus.Ok },
        { "1:sa 2:sa 3:s-", false, ServerStatus.Unhealthy },
        { "1:sa 2:sa 3:s-", true, ServerStatus.Unhealthy },
        { "1:sa 2:sa 3:sa 4:-- 5:--", false, ServerStatus.NotEnoughStartedMembers },
        { "1:sa 2:sa 3:sa 4:-- 5:--", true, ServerStatus.Unhealthy }, // 3 active of 6
        { "1:sa 2:sa 3:sa 4:sa 5:s-", false, ServerStatus.Ok },
    };

    [Theory]
    [MemberData(nameof(Adds))]
    public void May_add(string voters, bool learner, ServerStatus expected) =>
        Assert.Equal(expected, ReconfigCheck.MayAdd(Parse(voters), learner));

    public static TheoryData<string, ulong, bool, ServerStatus> Removes => new()
    {
        { "1:sa 2:sa 3:sa", 2, false, ServerStatus.Ok },
        { "1:sa 2:sa 3:s-", 3, false, ServerStatus.Ok },        // the down member may go
        { "1:sa 2:sa 3:s-", 2, false, ServerStatus.Unhealthy },
        { "1:sa 2:sa 3:s-", 1, false, ServerStatus.Unhealthy }, // the leader itself
        { "1:sa 2:sa 3:s-", 2, true, ServerStatus.Ok },         // a learner never matters
        { "1:sa 2:sa 3:sa 4:-- 5:--", 2, false, ServerStatus.NotEnoughStartedMembers },
        { "1:sa 2:sa 3:sa 4:-- 5:--", 5, false, ServerStatus.Ok },
        { "1:sa", 1, false, ServerStatus.NotEnoughStartedMembers },
    };

    [Theory]
    [MemberData(nameof(Removes))]
    public void May_remove(string voters, ulong id, bool learner, ServerStatus expected) =>
        Assert.Equal(expected, ReconfigCheck.MayRemove(Parse(voters), id, learner, self: 1));

    [Theory]
    [InlineData("1:sa 2:sa 3:sa", ServerStatus.Ok)]
    [InlineData("1:sa 2:-- 3:--", ServerStatus.NotEnoughStartedMembers)]
    [InlineData("1:sa 2:sa 3:--", ServerStatus.Ok)]
    public void May_promote(string voters, ServerStatus expected) =>
        Assert.Equal(expected, ReconfigCheck.MayPromote(Parse(voters)));

    private static List<VoterState> Parse(string voters) => voters
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)
        .Select(v => v.Split(':'))
        .Select(p => new VoterState(ulong.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), p[1][0] == 's', p[1][1] == 'a'))
        .ToList();

    /// <summary>Waits until the leader's raft progress no longer counts <paramref name="id"/> as recently active (an election timeout or two after it stopped).</summary>
    private static async Task InactiveOnLeaderAsync(ConclaveMember leader, ulong id)
    {
        var deadline = DateTime.UtcNow + TestCluster.Deadline;
        while ((await leader.RaftStatusAsync()).Progress[id].RecentActive)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected the leader to see member {id:x16} inactive within {TestCluster.Deadline.TotalSeconds} s");
            }
            await Task.Delay(20);
        }
    }
}
