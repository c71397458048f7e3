using System.Text;

namespace Conclave.Raft.Tests;

public class ElectionTests
{
    internal static ConfState Voters(params ulong[] ids) => new() { Voters = ids };

    internal static Cluster ThreeNodes(Func<RaftConfig, RaftConfig>? tweak = null)
    {
        var c = new Cluster { Verbose = false };
        foreach (var id in new ulong[] { 1, 2, 3 })
        {
            c.Add(id, Voters(1, 2, 3), tweak: tweak);
        }

        return c;
    }

    [Fact]
    public void Campaign_wins_with_a_majority_and_commits_an_empty_entry_of_its_term()
    {
        var c = ThreeNodes();
        c.Members[1].Node.Campaign();
        c.Stabilize();

        var s = c.Members[1].Node.Status();
        Assert.Equal(RaftRole.Leader, s.Role);
        Assert.Equal(1UL, s.Term);
        Assert.Equal(1UL, s.Commit);
        foreach (var id in new ulong[] { 2, 3 })
        {
            var f = c.Members[id].Node.Status();
            Assert.Equal(RaftRole.Follower, f.Role);
            Assert.Equal(1UL, f.Lead);
            Assert.Equal(1UL, f.Commit);
        }
    }

    [Fact]
    public void A_follower_campaigns_after_its_randomized_election_timeout()
    {
        var c = ThreeNodes();
        var ticks = 0;
        while (c.Members[1].Node.Status().Role == RaftRole.Follower)
        {
            c.Tick(1, 1);
            Assert.True(++ticks < 20, "expected a campaign within 2 * ElectionTick ticks");
        }

        Assert.True(ticks >= 10, $"campaigned after {ticks} ticks, before ElectionTick");
        Assert.Equal(RaftRole.PreCandidate, c.Members[1].Node.Status().Role);
    }

    [Fact]
    public void Pre_vote_does_not_raise_the_term_until_a_majority_would_vote()
    {
        var c = ThreeNodes();
        c.Cut(1, 2);
        c.Cut(1, 3);
        c.Members[1].Node.Campaign();
        c.Stabilize();
        Assert.Equal(RaftRole.PreCandidate, c.Members[1].Node.Status().Role);
        Assert.Equal(0UL, c.Members[1].Node.Status().Term);
    }

    [Fact]
    public void Without_pre_vote_a_candidate_raises_its_term()
    {
        var c = ThreeNodes(cfg => new RaftConfig { Id = cfg.Id, Storage = cfg.Storage, PreVote = false, RandomSeed = 42 });
        c.Cut(1, 2);
        c.Cut(1, 3);
        c.Members[1].Node.Campaign();
        c.Stabilize();
        Assert.Equal(RaftRole.Candidate, c.Members[1].Node.Status().Role);
        Assert.Equal(1UL, c.Members[1].Node.Status().Term);
    }

    [Fact]
    public void Votes_and_responses_wait_for_persistence_but_leader_appends_do_not()
    {
        var c = ThreeNodes(cfg => new RaftConfig { Id = cfg.Id, Storage = cfg.Storage, PreVote = false, RandomSeed = 42 });
        var n1 = c.Members[1].Node;
        n1.Campaign();
        var rd = n1.GetReady();
        Assert.Empty(rd.Messages);
        Assert.All(rd.MessagesAfterPersist, m => Assert.Equal(MessageType.Vote, m.Type));
        Assert.Equal(new HardState(1, 1, 0), rd.HardState);
        Assert.True(rd.MustSync);
        c.Members[1].Storage.SetHardState(rd.HardState);
        n1.Advance(rd);

        var n2 = c.Members[2].Node;
        n2.Step(new Message { Type = MessageType.Vote, From = 1, To = 2, Term = 1 });
        var rd2 = n2.GetReady();
        Assert.Empty(rd2.Messages);
        Assert.Single(rd2.MessagesAfterPersist, m => m.Type == MessageType.VoteResponse && !m.Reject);
        n2.Advance(rd2);

        n1.Step(new Message { Type = MessageType.VoteResponse, From = 2, To = 1, Term = 1 });
        var rd3 = n1.GetReady();
        Assert.Equal(RaftRole.Leader, rd3.SoftState!.Role);
        Assert.Contains(rd3.Messages, m => m.Type == MessageType.Append);
        Assert.Single(rd3.Entries);
        // The leader's own entry is not committed before the leader persisted it (Advance).
        Assert.Equal(0UL, n1.Status().Commit);
    }

    [Fact]
    public void A_single_voter_commits_only_after_Advance()
    {
        var c = new Cluster { Verbose = false };
        var m = c.Add(1, Voters(1));
        m.Node.Campaign();
        var rd = m.Node.GetReady();
        Assert.Equal(RaftRole.Leader, rd.SoftState!.Role);
        Assert.Equal(0UL, m.Node.Status().Commit);
        m.Storage.Append(rd.Entries);
        m.Node.Advance(rd);
        Assert.Equal(1UL, m.Node.Status().Commit);
    }

    [Fact]
    public void A_single_voter_sends_nothing_before_its_new_term_is_durable()
    {
        var storage = new MemoryStorage();
        storage.SetConfState(new ConfState { Voters = [1], Learners = [2] });
        var n = new RawNode(new RaftConfig { Id = 1, Storage = storage });
        n.Campaign();
        var rd = n.GetReady();
        Assert.Equal(RaftRole.Leader, rd.SoftState!.Role);
        Assert.Empty(rd.Messages);
        Assert.Contains(rd.MessagesAfterPersist, m => m.Type == MessageType.Append && m.To == 2);
        storage.Append(rd.Entries);
        storage.SetHardState(rd.HardState);
        n.Advance(rd);

        // Once the term is durable (and 2 answered the probe), appends may leave before the leader's own write.
        n.Step(new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = 1, Index = 1 });
        if (n.HasReady())
        {
            n.Advance(n.GetReady());
        }

        n.Propose("x"u8.ToArray());
        var rd2 = n.GetReady();
        Assert.Contains(rd2.Messages, m => m.Type == MessageType.Append && m.To == 2);
    }

    [Fact]
    public void A_node_votes_once_per_term()
    {
        var c = ThreeNodes();
        var n3 = c.Members[3].Node;
        n3.Step(new Message { Type = MessageType.Vote, From = 1, To = 3, Term = 5 });
        n3.Step(new Message { Type = MessageType.Vote, From = 2, To = 3, Term = 5 });
        var rd = n3.GetReady();
        Assert.False(rd.MessagesAfterPersist.Single(x => x.To == 1).Reject);
        Assert.True(rd.MessagesAfterPersist.Single(x => x.To == 2).Reject);
    }

    [Fact]
    public void The_VoteTwiceInTerm_bug_grants_a_second_vote()
    {
        var c = ThreeNodes(cfg => new RaftConfig { Id = cfg.Id, Storage = cfg.Storage, Bugs = RaftBugs.VoteTwiceInTerm });
        var n3 = c.Members[3].Node;
        n3.Step(new Message { Type = MessageType.Vote, From = 1, To = 3, Term = 5 });
        n3.Step(new Message { Type = MessageType.Vote, From = 2, To = 3, Term = 5 });
        var rd = n3.GetReady();
        Assert.All(rd.MessagesAfterPersist, x => Assert.False(x.Reject));
    }

    [Fact]
    public void A_candidate_with_a_stale_log_is_refused()
    {
        var c = new Cluster { Verbose = false };
        c.Add(1, Voters(1, 2, 3), logTerms: [1]);
        c.Add(2, Voters(1, 2, 3), logTerms: [1, 2]);
        c.Add(3, Voters(1, 2, 3), logTerms: [1, 2]);
        c.Members[1].Node.Campaign();
        c.Stabilize();
        Assert.NotEqual(RaftRole.Leader, c.Members[1].Node.Status().Role);
    }

    [Fact]
    public void A_vote_rejection_teaches_the_candidate_a_commit_index_it_can_verify()
    {
        var storage = new MemoryStorage();
        storage.SetConfState(Voters(1, 2));
        storage.Append([new Entry(1, 1), new Entry(1, 2)]);
        storage.SetHardState(new HardState(1, 0, 1));
        var n = new RawNode(new RaftConfig { Id = 1, Storage = storage, PreVote = false, RandomSeed = 1 });
        n.Campaign();
        n.Advance(n.GetReady());

        // A rejection naming an entry the candidate does not hold with that term teaches nothing.
        n.Step(new Message { Type = MessageType.VoteResponse, From = 2, To = 1, Term = 2, Reject = true, Commit = 2, LogTerm = 7 });
        Assert.Equal(1UL, n.Status().Commit);

        var n2 = new RawNode(new RaftConfig { Id = 1, Storage = storage, PreVote = false, RandomSeed = 1 });
        n2.Campaign();
        n2.Advance(n2.GetReady());
        n2.Step(new Message { Type = MessageType.VoteResponse, From = 2, To = 1, Term = 2, Reject = true, Commit = 2, LogTerm = 1 });
        Assert.Equal(2UL, n2.Status().Commit);
    }

    [Fact]
    public void Committed_entries_are_handed_out_in_bounded_batches()
    {
        var storage = new MemoryStorage();
        storage.SetConfState(Voters(1));
        storage.Append(Enumerable.Range(1, 10).Select(i => new Entry(1, (ulong)i, EntryType.Normal, new byte[100])).ToList());
        storage.SetHardState(new HardState(1, 1, 10));
        var n = new RawNode(new RaftConfig { Id = 1, Storage = storage, MaxCommittedSizePerReady = 300 });
        var batches = new List<int>();
        while (n.HasReady())
        {
            var rd = n.GetReady();
            batches.Add(rd.CommittedEntries.Count);
            n.Advance(rd);
        }

        Assert.Equal([2, 2, 2, 2, 2], batches);
        Assert.Equal(10UL, n.Status().Applied);
    }

    [Fact]
    public void Local_message_types_are_rejected_from_peers()
    {
        var c = ThreeNodes();
        var r = c.Members[1].Node.Step(new Message { Type = MessageType.Hup, From = 2, To = 1 });
        Assert.Equal(StepStatus.Rejected, r.Status);
        var unterm = c.Members[1].Node.Step(new Message { Type = MessageType.Append, From = 2, To = 1, Entries = [new Entry(1, 1)] });
        Assert.Equal(StepStatus.Rejected, unterm.Status);
        Assert.False(c.Members[1].Node.HasReady());
    }

    [Fact]
    public void Same_calls_give_the_same_readys()
    {
        static string Run()
        {
            var c = new Cluster();
            foreach (var id in new ulong[] { 1, 2, 3 })
            {
                c.Add(id, Voters(1, 2, 3));
            }

            for (var i = 0; i < 40; i++)
            {
                foreach (var id in c.Members.Keys)
                {
                    c.Tick(id, 1);
                }

                c.Stabilize();
                if (i % 7 == 0)
                {
                    var leader = c.Members.Values.FirstOrDefault(m => m.Node.Status().Role == RaftRole.Leader);
                    leader?.Node.Propose(Encoding.UTF8.GetBytes($"v{i}"));
                }
            }

            return c.TakeOutput();
        }

        var a = Run();
        Assert.Contains("State:Leader", a);
        Assert.Equal(a, Run());
    }

    [Fact]
    public void A_removed_candidate_steps_down_and_cannot_win_on_the_new_configuration()
    {
        var c = ThreeNodes(cfg => new RaftConfig { Id = cfg.Id, Storage = cfg.Storage, PreVote = false, RandomSeed = 42 });
        var n3 = c.Members[3].Node;
        n3.Campaign();
        Assert.Equal(RaftRole.Candidate, n3.Status().Role);

        // The removal of 3 is applied while its campaign runs (it was committed before).
        n3.ApplyConfChange(ConfChange.Single(ConfChangeType.RemoveNode, 3));
        Assert.Equal(RaftRole.Follower, n3.Status().Role);

        // Votes of the new configuration's majority arrive late: they no longer count.
        n3.Step(new Message { Type = MessageType.VoteResponse, From = 1, To = 3, Term = 1 });
        n3.Step(new Message { Type = MessageType.VoteResponse, From = 2, To = 3, Term = 1 });
        Assert.Equal(RaftRole.Follower, n3.Status().Role);
        Assert.Equal(1UL, n3.Status().Term);
    }

    [Fact]
    public void A_follower_forwards_a_proposal_while_its_write_is_in_flight_and_acknowledges_only_after_it()
    {
        var c = ThreeNodes();
        c.Members[1].Node.Campaign();
        c.Stabilize();
        var n2 = c.Members[2].Node;

        // An append from the leader: the follower's Ready must be persisted before it acknowledges.
        n2.Step(new Message
        {
            Type = MessageType.Append,
            From = 1,
            To = 2,
            Term = 1,
            LogTerm = 1,
            Index = 1,
            Commit = 1,
            Entries = [new Entry(1, 2, EntryType.Normal, "a"u8.ToArray())],
        });
        var rd = n2.GetReady();
        Assert.True(rd.MustSync);
        Assert.Single(rd.MessagesAfterPersist, m => m.Type == MessageType.AppendResponse && m.Index == 2);

        // While that write is in flight, a client's proposal is forwarded at once.
        Assert.True(n2.Propose("b"u8.ToArray()).IsAccepted);
        Assert.False(n2.HasReady());
        var early = n2.TakeMessages();
        var forwarded = Assert.Single(early);
        Assert.Equal(MessageType.Propose, forwarded.Type);
        Assert.Equal(1UL, forwarded.To);
        Assert.Empty(n2.TakeMessages());

        c.Members[2].Storage.Append(rd.Entries);
        n2.Advance(rd);
        Assert.False(n2.HasReady()); // the forwarded proposal is not handed out a second time
    }
}
