namespace Conclave.Raft.Tests;

public class FlowControlTests
{
    private static RaftConfig Tweak(RaftConfig c, int maxInflight = 256, ulong maxSize = 1 << 20, ulong maxUncommitted = 0) => new()
    {
        Id = c.Id,
        Storage = c.Storage,
        RandomSeed = 1,
        MaxInflightMsgs = maxInflight,
        MaxSizePerMsg = maxSize,
        MaxUncommittedEntriesSize = maxUncommitted,
    };

    private static Cluster Elected(Func<RaftConfig, RaftConfig> tweak)
    {
        var c = ElectionTests.ThreeNodes(tweak);
        c.Members[1].Node.Campaign();
        c.Stabilize();
        return c;
    }

    [Fact]
    public void At_most_MaxInflightMsgs_appends_are_outstanding_to_a_replicating_follower()
    {
        var c = Elected(cfg => Tweak(cfg, maxInflight: 2, maxSize: 1));
        c.Cut(2, 1); // 2 receives but its acknowledgments are lost
        for (var i = 0; i < 5; i++)
        {
            c.Members[1].Node.Propose(new byte[] { (byte)i });
            c.ProcessReady(1);
        }

        Assert.Equal(2, c.InFlight.Count(m => m.To == 2 && m.Type == MessageType.Append));
        var pr = c.Members[1].Node.Status().Progress[2];
        Assert.Equal(ProgressState.Replicate, pr.State);
        Assert.Equal(2, pr.Inflight);

        // Acknowledgments free the window and the rest flows.
        c.Heal();
        c.Stabilize();
        Assert.Equal(6UL, c.Members[2].Node.Status().Commit);
    }

    [Fact]
    public void MaxSizePerMsg_splits_entries_across_messages()
    {
        var c = Elected(cfg => Tweak(cfg, maxSize: 250));
        c.Cut(1, 3);
        for (var i = 0; i < 6; i++)
        {
            c.Members[1].Node.Propose(new byte[100]);
        }

        c.Stabilize();
        c.Heal();
        c.Members[1].Node.ReportUnreachable(3); // back to probing
        c.Tick(1, 1);
        c.ProcessReady(1);
        c.Deliver(3);
        c.ProcessReady(3);
        c.Deliver(1);
        c.ProcessReady(1);
        var appends = c.InFlight.Where(m => m.To == 3 && m.Type == MessageType.Append && m.Entries.Count > 0).ToList();
        Assert.NotEmpty(appends);
        Assert.All(appends, m => Assert.True(m.Entries.Count <= 2, $"{m.Entries.Count} entries of 116 bytes exceed 250"));
        c.Stabilize();
        Assert.Equal(7UL, c.Members[3].Node.Status().Commit);
    }

    [Fact]
    public void A_probing_follower_gets_one_append_until_it_answers()
    {
        var c = Elected(cfg => Tweak(cfg));
        c.Members[1].Node.ReportUnreachable(2);
        Assert.Equal(ProgressState.Probe, c.Members[1].Node.Status().Progress[2].State);
        c.Cut(1, 2);
        for (var i = 0; i < 3; i++)
        {
            c.Members[1].Node.Propose(new byte[] { 1 });
        }

        c.Stabilize();
        var pr = c.Members[1].Node.Status().Progress[2];
        Assert.Equal(ProgressState.Probe, pr.State);
        c.Heal();
        c.Tick(1, 1); // heartbeat -> response unpauses the probe
        c.Stabilize();
        Assert.Equal(ProgressState.Replicate, c.Members[1].Node.Status().Progress[2].State);
        Assert.Equal(4UL, c.Members[2].Node.Status().Commit);
    }

    [Fact]
    public void Rejections_skip_a_whole_conflicting_term_per_round_trip()
    {
        var c = new Cluster { Verbose = false };
        var cs = ElectionTests.Voters(1, 2, 3);
        c.Add(1, cs, logTerms: [.. Enumerable.Repeat(1UL, 5), .. Enumerable.Repeat(3UL, 50)]);
        c.Add(2, cs, logTerms: [.. Enumerable.Repeat(1UL, 5), .. Enumerable.Repeat(3UL, 50)]);
        c.Add(3, cs, logTerms: [.. Enumerable.Repeat(1UL, 5), .. Enumerable.Repeat(2UL, 100)]);
        c.Members[1].Node.Campaign();
        c.Verbose = true;
        c.Stabilize();
        var transcript = c.TakeOutput();
        var rejections = transcript.Split('\n').Count(l => l.Contains("3->1 AppendResponse") && l.Contains("Rejected") && l.StartsWith("    ", StringComparison.Ordinal));
        Assert.InRange(rejections, 1, 2);
        Assert.Equal(c.Members[1].Storage.LastIndex(), c.Members[3].Storage.LastIndex());
        Assert.Equal(3UL, c.Members[3].Storage.Term(6));
    }

    [Fact]
    public void Proposals_beyond_the_uncommitted_limit_are_dropped()
    {
        var c = Elected(cfg => Tweak(cfg, maxUncommitted: 1000));
        c.Partition([[1], [2, 3]]);
        Assert.True(c.Members[1].Node.Propose(new byte[600]).IsAccepted);
        var r = c.Members[1].Node.Propose(new byte[600]);
        Assert.Equal(ProposeStatus.Dropped, r.Status);
        c.Heal();
        c.Stabilize();
        c.Tick(1, 1);
        c.Stabilize();
        Assert.True(c.Members[1].Node.Propose(new byte[600]).IsAccepted);
    }

    [Fact]
    public void A_restarted_member_loses_only_what_it_had_not_persisted()
    {
        var c = Elected(cfg => Tweak(cfg));
        c.Members[1].Node.Propose("kept"u8.ToArray());
        c.Stabilize();
        c.Members[1].Node.Propose("lost"u8.ToArray()); // never handed to storage
        c.Restart(1);
        var s = c.Members[1].Node.Status();
        Assert.Equal(RaftRole.Follower, s.Role);
        Assert.Equal(1UL, s.Term);
        Assert.Equal(2UL, c.Members[1].Storage.LastIndex());
        c.Stabilize();
        Assert.Contains(c.Members[1].Applied, e => e.Data.Span.SequenceEqual("kept"u8));
    }
}
