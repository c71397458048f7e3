using Conclave.Raft;

namespace Conclave.Testing.Simulation;

/// <summary>Fault injection: partitions, crashes, membership changes, leadership transfers, compaction.</summary>
public sealed partial class ClusterSimulation
{
    private void InjectFaults()
    {
        if (_net.IsPartitioned && _step >= _healAt)
        {
            _net.Heal();
            Trace("partition healed");
        }
        else if (!_net.IsPartitioned && _random.NextDouble() < 0.01)
        {
            Partition();
        }

        if (_random.NextDouble() < 0.006)
        {
            var alive = _members.Values.Where(m => m.Alive).ToList();
            if (alive.Count > 0)
            {
                Crash(alive[_random.Next(alive.Count)], "crash");
            }
        }

        if (_random.NextDouble() < 0.008)
        {
            ChangeMembership();
        }

        if (_random.NextDouble() < 0.004 && CurrentLeader() is var (leader, st))
        {
            var others = st.ConfState.Voters.Where(v => v != leader.Id).ToList();
            if (others.Count > 0)
            {
                var to = others[_random.Next(others.Count)];
                leader.Node!.TransferLeader(to);
                _faults.Add("transfer-leader");
                Trace($"leader {leader.Id} asked to transfer leadership to {to}");
            }
        }

        if (_random.NextDouble() < 0.01)
        {
            Compact();
        }
    }

    private void Partition()
    {
        var ids = _members.Values.Where(m => !m.Removed).Select(m => m.Id).ToList();
        var leader = CurrentLeader()?.Member.Id;
        var kind = _random.Next(5);
        switch (kind)
        {
            case 0:
                {
                    // Symmetric: a random minority cut off from the rest.
                    var minority = Shuffle(ids).Take(1 + _random.Next(Math.Max(1, (ids.Count - 1) / 2))).ToList();
                    _net.Split(minority, ids.Except(minority));
                    _faults.Add("partition-symmetric");
                    break;
                }

            case 1:
                {
                    // Asymmetric: one member's outgoing links are cut, its incoming ones work.
                    var x = ids[_random.Next(ids.Count)];
                    foreach (var y in ids.Where(y => y != x))
                    {
                        _net.Block(x, y);
                    }

                    _faults.Add("partition-asymmetric-out");
                    break;
                }

            case 2:
                {
                    // Asymmetric: one member hears nobody but can still send.
                    var x = ids[_random.Next(ids.Count)];
                    foreach (var y in ids.Where(y => y != x))
                    {
                        _net.Block(y, x);
                    }

                    _faults.Add("partition-asymmetric-in");
                    break;
                }

            case 3 when leader is not null:
                _net.Split([leader.Value], ids.Where(y => y != leader.Value));
                _faults.Add("partition-isolate-leader");
                break;

            default:
                if (leader is null)
                {
                    goto case 0;
                }

                // The leader keeps a minority with it (for 3 members that minority is the leader alone).
                var size = Math.Max(1, (ids.Count - 1) / 2);
                var withLeader = Shuffle(ids.Where(y => y != leader.Value).ToList()).Take(size - 1).Append(leader.Value).ToList();
                _net.Split(withLeader, ids.Except(withLeader));
                _faults.Add("partition-leader-with-minority");
                break;
        }

        _healAt = _step + 20 + _random.Next(100);
        Trace($"partition until step {_healAt}: {_net.Describe()}");
    }

    private List<ulong> Shuffle(List<ulong> ids)
    {
        var copy = ids.ToArray();
        _random.Shuffle(copy);
        return [.. copy];
    }

    private void ChangeMembership()
    {
        if (CurrentLeader() is not var (leader, st))
        {
            return;
        }

        var cs = st.ConfState;
        ConfChange cc;
        if (cs.VotersOutgoing.Count > 0)
        {
            if (cs.AutoLeave)
            {
                return;
            }

            cc = ConfChange.LeaveJoint();
        }
        else
        {
            var maxVoters = Math.Max(_options.Members, 3) + 1;
            var choice = _random.Next(6);
            var voters = cs.Voters.ToList();
            var learners = cs.Learners.ToList();
            var orphans = _members.Values.Count(m => !m.Removed && !AllIds(cs).Contains(m.Id));
            if (choice == 0 && learners.Count == 0 && orphans == 0)
            {
                var id = _nextMemberId++;
                var m = new SimMember(id);
                _members[id] = m;
                Start(m);
                cc = ConfChange.Single(ConfChangeType.AddLearnerNode, id);
            }
            else if (choice == 1 && learners.Count > 0 && voters.Count < maxVoters)
            {
                cc = ConfChange.Single(ConfChangeType.AddNode, learners[_random.Next(learners.Count)]);
            }
            else if (choice == 2 && voters.Count > 3)
            {
                cc = ConfChange.Single(ConfChangeType.RemoveNode, voters[_random.Next(voters.Count)]);
            }
            else if (choice == 3 && learners.Count > 0)
            {
                cc = ConfChange.Single(ConfChangeType.RemoveNode, learners[_random.Next(learners.Count)]);
            }
            else if (choice == 4 && voters.Count > 3)
            {
                cc = ConfChange.Single(ConfChangeType.AddLearnerNode, voters[_random.Next(voters.Count)]);
            }
            else if (choice == 5 && learners.Count > 0 && voters.Count >= 3)
            {
                // Joint consensus: swap a voter for a learner in one change.
                cc = new ConfChange
                {
                    Transition = _random.Next(2) == 0 ? ConfChangeTransition.JointExplicit : ConfChangeTransition.JointImplicit,
                    Changes =
                    [
                        new ConfChangeSingle(ConfChangeType.AddNode, learners[_random.Next(learners.Count)]),
                        new ConfChangeSingle(ConfChangeType.RemoveNode, voters[_random.Next(voters.Count)]),
                    ],
                };
            }
            else
            {
                return;
            }
        }

        var result = leader.Node!.ProposeConfChange(cc);
        _faults.Add(result.IsAccepted ? "conf-change" : "conf-change-refused");
        Trace($"leader {leader.Id} proposes conf change {cc} ({cs}): {result}");
    }

    private void Compact()
    {
        var alive = _members.Values.Where(m => m.Alive).ToList();
        if (alive.Count == 0)
        {
            return;
        }

        var m = alive[_random.Next(alive.Count)];
        var snapIndex = m.Storage.Snapshot().Metadata.Index;
        var compacted = m.Storage.FirstIndex() - 1;
        if (m.Applied <= snapIndex + 4 || m.Applied > m.Storage.LastIndex())
        {
            return;
        }

        // The snapshot is taken at the applied index (the state machine image matches it exactly);
        // now and then a few entries before it are kept, so lagging followers catch up from the log.
        var at = m.Applied;
        var compactTo = Math.Max(compacted + 1, at - (ulong)_random.Next(3));
        m.Storage.CreateSnapshot(at, m.ConfState, m.Sm.Save());
        m.Storage.Compact(compactTo);
        _faults.Add("compaction");
        Trace($"member {m.Id} snapshot at {at}, log compacted up to {compactTo}");
    }
}
