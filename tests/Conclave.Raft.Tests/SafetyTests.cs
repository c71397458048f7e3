namespace Conclave.Raft.Tests;

/// <summary>
/// Seeded random runs of a small cluster over a faulty network (reordering, loss, duplication,
/// partitions, restarts that lose unpersisted state), checking after every step:
/// election safety (at most one leader per term) and state machine safety (every member applies
/// the same entry at each index). The simulator in tests/Conclave.Testing does this at scale; this
/// one keeps the core honest on its own and shows that the deliberate bugs are caught.
/// </summary>
public class SafetyTests
{
    internal static (string? Violation, int Applied) Run(int seed, int steps, RaftBugs bugs, int members = 3, bool compact = true, bool confChanges = false)
    {
        try
        {
            return RunUnchecked(seed, steps, bugs, members, compact, confChanges);
        }
        catch (InvalidOperationException e)
        {
            // The core asserts its invariants (e.g. "conflicts with committed entry") with exceptions.
            return ($"seed {seed}: invariant violated: {e.Message}", 0);
        }
    }

    private static (string? Violation, int Applied) RunUnchecked(int seed, int steps, RaftBugs bugs, int members, bool compact, bool confChanges)
    {
        var r = new Random(seed);
        var trace = Environment.GetEnvironmentVariable("CONCLAVE_RAFT_TRACE");
        var c = new Cluster { Verbose = trace is not null, AutoReportSnapshots = true };
        var ids = Enumerable.Range(1, members).Select(i => (ulong)i).ToArray();
        // With conf changes, members 1-3 are the initial voters and the others join later. Every
        // member starts from the same bootstrap ConfState: the initial voters are not in the log.
        var initial = confChanges ? ids.Take(3).ToArray() : ids;
        foreach (var id in ids)
        {
            c.Add(id, new ConfState { Voters = initial }, tweak: cfg => new RaftConfig
            {
                Id = cfg.Id,
                Storage = cfg.Storage,
                RandomSeed = seed,
                ElectionTick = 10,
                HeartbeatTick = 2,
                MaxInflightMsgs = 4,
                MaxSizePerMsg = 64,
                Bugs = bugs,
            });
        }

        var leaders = new Dictionary<ulong, ulong>();
        var applied = new Dictionary<ulong, Entry>();
        var seen = ids.ToDictionary(id => id, _ => 0);
        var proposals = 0;
        for (var step = 0; step < steps; step++)
        {
            var roll = r.Next(100);
            var id = ids[r.Next(ids.Length)];
            if (trace is not null)
            {
                File.AppendAllText(trace, c.TakeOutput() + $"--- step {step}\n");
            }
            if (roll < 30)
            {
                c.Tick(id, 1);
            }
            else if (roll < 60 && c.InFlight.Count > 0)
            {
                var i = r.Next(c.InFlight.Count);
                var m = c.InFlight[i];
                if (r.Next(10) > 0)
                {
                    c.InFlight.RemoveAt(i); // else: duplicated (delivered and kept)
                }

                // The transport reports whether a snapshot got through.
                var delivered = r.Next(20) > 0 && !c.IsCut(m.From, m.To);
                if (delivered)
                {
                    var res = c.Members[m.To].Node.Step(m);
                    c.Write($"deliver {Cluster.Format(m)} -> {res}");
                }

                c.ReportSnapshot(m, failed: !delivered);
            }
            else if (roll < 85)
            {
                c.ProcessReady(id);
            }
            else if (roll < 93)
            {
                if (confChanges && r.Next(8) == 0)
                {
                    c.Members[id].Node.ProposeConfChange(RandomConfChange(r, ids));
                }
                else
                {
                    c.Members[id].Node.Propose(BitConverter.GetBytes(++proposals));
                }
            }
            else if (roll < 99)
            {
                if (r.Next(3) > 0)
                {
                    c.Heal();
                }
                else
                {
                    var shuffled = ids.OrderBy(_ => r.Next()).ToArray();
                    var cut = 1 + r.Next(ids.Length - 1);
                    c.Partition([shuffled[..cut], shuffled[cut..]]);
                }
            }
            else if (r.Next(5) == 0)
            {
                foreach (var lost in c.InFlight.Where(x => x.To == id && x.Type == MessageType.Snapshot).ToList())
                {
                    c.ReportSnapshot(lost, failed: true);
                }

                c.Restart(id);
                seen[id] = 0;
            }
            else if (compact)
            {
                // Compact a member's log up to what it has applied, keeping a snapshot.
                var m = c.Members[id];
                var appliedIndex = m.Node.Status().Applied;
                if (appliedIndex > m.Storage.FirstIndex() + 3)
                {
                    m.Storage.CreateSnapshot(appliedIndex, m.ConfState, BitConverter.GetBytes(appliedIndex));
                    m.Storage.Compact(appliedIndex - 1);
                }
            }

            foreach (var (mid, m) in c.Members)
            {
                var s = m.Node.Status();
                if (s.Role == RaftRole.Leader)
                {
                    if (leaders.TryGetValue(s.Term, out var other) && other != mid)
                    {
                        return ($"seed {seed} step {step}: two leaders in term {s.Term}: {other} and {mid}", applied.Count);
                    }

                    leaders[s.Term] = mid;
                }

                for (; seen[mid] < m.Applied.Count; seen[mid]++)
                {
                    var e = m.Applied[seen[mid]];
                    if (applied.TryGetValue(e.Index, out var first) && !first.Equals(e))
                    {
                        return ($"seed {seed} step {step}: member {mid} applied {e} at {e.Index}, another applied {first}", applied.Count);
                    }

                    applied[e.Index] = e;
                }
            }
        }

        // Liveness once the faults stop: a leader emerges and a new proposal reaches everyone.
        c.Heal();
        var final = BitConverter.GetBytes(-seed);
        var proposed = false;
        for (var round = 0; round < 300; round++)
        {
            foreach (var id in ids)
            {
                c.Tick(id, 1);
            }

            c.Stabilize();
            var leader = c.Members.Values.FirstOrDefault(m => m.Node.Status().Role == RaftRole.Leader);
            if (!proposed && leader is not null)
            {
                proposed = leader.Node.Propose(final).IsAccepted;
            }

            if (proposed && leader is not null)
            {
                var cs = leader.Node.Status().ConfState;
                var inConfig = cs.Voters.Concat(cs.VotersOutgoing).Concat(cs.Learners).Distinct();
                if (inConfig.All(id => c.Members[id].Applied.Any(e => e.Data.Span.SequenceEqual(final))))
                {
                    return (null, applied.Count);
                }
            }
        }

        return ($"seed {seed}: no progress after healing: "
            + string.Join("; ", c.Members.Values.Select(m => m.Node.Status()).Select(st => $"{st.Id} {st.Role} t{st.Term} c{st.Commit} a{st.Applied} {st.ConfState}")), applied.Count);
    }

    private static ConfChange RandomConfChange(Random r, ulong[] ids)
    {
        ConfChangeSingle One() => new((ConfChangeType)r.Next(3), ids[r.Next(ids.Length)]);
        return r.Next(6) switch
        {
            0 => ConfChange.LeaveJoint(),
            1 => new ConfChange { Changes = [One(), One()] },
            2 => new ConfChange { Transition = ConfChangeTransition.JointExplicit, Changes = [One()] },
            _ => new ConfChange { Changes = [One()] },
        };
    }

    public static TheoryData<int> Seeds()
    {
        // CONCLAVE_RAFT_SEEDS=N runs N seeds (a longer soak); the default keeps the suite fast.
        var count = int.TryParse(Environment.GetEnvironmentVariable("CONCLAVE_RAFT_SEEDS"), out var n) ? n : 24;
        var d = new TheoryData<int>();
        for (var s = 1; s <= count; s++)
        {
            d.Add(s);
        }

        return d;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_faults_never_break_election_or_state_machine_safety(int seed)
    {
        var (violation, _) = Run(seed, 4000, RaftBugs.None, members: seed % 2 == 0 ? 3 : 5);
        Assert.True(violation is null, violation);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_membership_changes_under_faults_stay_safe(int seed)
    {
        var (violation, _) = Run(seed, 4000, RaftBugs.None, members: 5, confChanges: true);
        Assert.True(violation is null, violation);
    }

    [Theory]
    [InlineData((int)RaftBugs.CommitOnMinority)]
    [InlineData((int)RaftBugs.VoteTwiceInTerm)]
    public void Deliberate_bugs_are_caught(int bugFlag)
    {
        var bug = (RaftBugs)bugFlag;
        var found = Enumerable.Range(1, 60).Select(seed => Run(seed, 4000, bug, members: 5).Violation).FirstOrDefault(x => x is not null);
        Assert.True(found is not null, $"{bug} was not detected in 60 seeds");
    }
}
