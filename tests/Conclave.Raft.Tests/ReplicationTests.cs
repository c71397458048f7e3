using System.Text;

namespace Conclave.Raft.Tests;

public class ReplicationTests
{
    private static Cluster Elected(Func<RaftConfig, RaftConfig>? tweak = null)
    {
        var c = ElectionTests.ThreeNodes(tweak);
        c.Members[1].Node.Campaign();
        c.Stabilize();
        return c;
    }

    [Fact]
    public void Proposals_are_replicated_committed_and_applied_in_order_everywhere()
    {
        var c = Elected();
        for (var i = 0; i < 5; i++)
        {
            Assert.True(c.Members[1].Node.Propose(Encoding.UTF8.GetBytes($"p{i}")).IsAccepted);
        }

        c.Stabilize();
        foreach (var m in c.Members.Values)
        {
            var data = m.Applied.Where(e => e.Data.Length > 0).Select(e => Encoding.UTF8.GetString(e.Data.Span));
            Assert.Equal(["p0", "p1", "p2", "p3", "p4"], data);
            Assert.Equal(6UL, m.Node.Status().Commit);
        }
    }

    [Fact]
    public void A_follower_forwards_proposals_to_the_leader()
    {
        var c = Elected();
        Assert.True(c.Members[2].Node.Propose("via-2"u8.ToArray()).IsAccepted);
        c.Stabilize();
        Assert.Contains(c.Members[3].Applied, e => e.Data.Span.SequenceEqual("via-2"u8));
    }

    [Fact]
    public void A_proposal_without_a_leader_is_refused_as_NotLeader()
    {
        var c = ElectionTests.ThreeNodes();
        Assert.Equal(ProposeStatus.NotLeader, c.Members[1].Node.Propose("x"u8.ToArray()).Status);
    }

    [Fact]
    public void Nothing_commits_without_a_quorum()
    {
        var c = Elected();
        c.Partition([[1], [2, 3]]);
        c.Members[1].Node.Propose("lost"u8.ToArray());
        c.Stabilize();
        Assert.Equal(1UL, c.Members[1].Node.Status().Commit);
    }

    [Fact]
    public void The_CommitOnMinority_bug_commits_with_one_follower_of_five()
    {
        var c = new Cluster { Verbose = false };
        foreach (var id in new ulong[] { 1, 2, 3, 4, 5 })
        {
            c.Add(id, ElectionTests.Voters(1, 2, 3, 4, 5), tweak: cfg => new RaftConfig { Id = cfg.Id, Storage = cfg.Storage, Bugs = RaftBugs.CommitOnMinority });
        }

        c.Members[1].Node.Campaign();
        c.Stabilize();
        c.Partition([[1, 2], [3, 4, 5]]);
        c.Members[1].Node.Propose("minority"u8.ToArray());
        c.Stabilize();
        Assert.Equal(2UL, c.Members[1].Node.Status().Commit);
    }
}
