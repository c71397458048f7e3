namespace Conclave.Raft;

/// <summary>
/// Computes the configuration and progress map that result from a <see cref="ConfChange"/>,
/// on copies: the tracker is only replaced when the change is valid. Rules:
/// a simple change may change at most one voter; entering joint consensus requires not being
/// joint already; leaving requires being joint; no configuration may end with zero voters.
/// </summary>
internal sealed class ConfChanger
{
    private readonly ProgressTracker _tracker;
    private readonly ulong _lastIndex;
    private readonly int _maxInflight;
    private readonly ulong _maxInflightBytes;

    public ConfChanger(ProgressTracker tracker, ulong lastIndex, int maxInflight, ulong maxInflightBytes)
    {
        _tracker = tracker;
        _lastIndex = lastIndex;
        _maxInflight = maxInflight;
        _maxInflightBytes = maxInflightBytes;
    }

    /// <summary>Applies cc (simple, enter joint, or leave joint); null result with an error when it is invalid.</summary>
    public (TrackerConfig? Config, SortedDictionary<ulong, Progress>? Progress, string? Error) Apply(ConfChange cc)
    {
        if (cc.IsLeaveJoint)
        {
            return LeaveJoint();
        }

        return cc.EntersJoint(out var autoLeave) ? EnterJoint(autoLeave, cc.Changes) : Simple(cc.Changes);
    }

    private (TrackerConfig?, SortedDictionary<ulong, Progress>?, string?) EnterJoint(bool autoLeave, IReadOnlyList<ConfChangeSingle> changes)
    {
        var (cfg, prs) = Copy();
        if (cfg.IsJoint)
        {
            return (null, null, "config is already joint");
        }

        if (cfg.Incoming.Count == 0)
        {
            return (null, null, "can't make a zero-voter config joint");
        }

        cfg.Outgoing.UnionWith(cfg.Incoming);
        var error = ApplyChanges(cfg, prs, changes);
        if (error is not null)
        {
            return (null, null, error);
        }

        cfg.AutoLeave = autoLeave;
        return Checked(cfg, prs);
    }

    private (TrackerConfig?, SortedDictionary<ulong, Progress>?, string?) LeaveJoint()
    {
        var (cfg, prs) = Copy();
        if (!cfg.IsJoint)
        {
            return (null, null, "can't leave a non-joint config");
        }

        cfg.Learners.UnionWith(cfg.LearnersNext);
        foreach (var id in cfg.LearnersNext)
        {
            prs[id].IsLearner = true;
        }

        cfg.LearnersNext.Clear();
        foreach (var id in cfg.Outgoing)
        {
            if (!cfg.Incoming.Contains(id) && !cfg.Learners.Contains(id))
            {
                prs.Remove(id);
            }
        }

        cfg.Outgoing.Clear();
        cfg.AutoLeave = false;
        return Checked(cfg, prs);
    }

    private (TrackerConfig?, SortedDictionary<ulong, Progress>?, string?) Simple(IReadOnlyList<ConfChangeSingle> changes)
    {
        var (cfg, prs) = Copy();
        if (cfg.IsJoint)
        {
            return (null, null, "can't apply a simple config change in a joint config");
        }

        var error = ApplyChanges(cfg, prs, changes);
        if (error is not null)
        {
            return (null, null, error);
        }

        var changed = new SortedSet<ulong>(_tracker.Config.Incoming);
        changed.SymmetricExceptWith(cfg.Incoming);
        if (changed.Count > 1)
        {
            return (null, null, "more than one voter changed without entering joint config");
        }

        return Checked(cfg, prs);
    }

    private string? ApplyChanges(TrackerConfig cfg, SortedDictionary<ulong, Progress> prs, IReadOnlyList<ConfChangeSingle> changes)
    {
        foreach (var cc in changes)
        {
            if (cc.NodeId == 0)
            {
                continue;
            }

            switch (cc.Type)
            {
                case ConfChangeType.AddNode:
                    MakeVoter(cfg, prs, cc.NodeId);
                    break;
                case ConfChangeType.AddLearnerNode:
                    MakeLearner(cfg, prs, cc.NodeId);
                    break;
                case ConfChangeType.RemoveNode:
                    Remove(cfg, prs, cc.NodeId);
                    break;
                default:
                    return $"unknown conf change type {cc.Type}";
            }
        }

        return cfg.Incoming.Count == 0 ? "removed all voters" : null;
    }

    private void MakeVoter(TrackerConfig cfg, SortedDictionary<ulong, Progress> prs, ulong id)
    {
        if (!prs.TryGetValue(id, out var pr))
        {
            prs[id] = NewProgress(isLearner: false);
            cfg.Incoming.Add(id);
            return;
        }

        // Promotion of a learner (or a voter staying a voter).
        pr.IsLearner = false;
        cfg.Learners.Remove(id);
        cfg.LearnersNext.Remove(id);
        cfg.Incoming.Add(id);
    }

    private void MakeLearner(TrackerConfig cfg, SortedDictionary<ulong, Progress> prs, ulong id)
    {
        if (!prs.TryGetValue(id, out var pr))
        {
            prs[id] = NewProgress(isLearner: true);
            cfg.Learners.Add(id);
            return;
        }

        if (pr.IsLearner)
        {
            return;
        }

        cfg.Incoming.Remove(id);
        cfg.Learners.Remove(id);
        cfg.LearnersNext.Remove(id);
        if (cfg.Outgoing.Contains(id))
        {
            // Still a voter of the outgoing half: becomes a learner when the joint config is left.
            cfg.LearnersNext.Add(id);
        }
        else
        {
            pr.IsLearner = true;
            cfg.Learners.Add(id);
        }
    }

    private static void Remove(TrackerConfig cfg, SortedDictionary<ulong, Progress> prs, ulong id)
    {
        if (!prs.ContainsKey(id))
        {
            return;
        }

        cfg.Incoming.Remove(id);
        cfg.Learners.Remove(id);
        cfg.LearnersNext.Remove(id);
        if (!cfg.Outgoing.Contains(id))
        {
            prs.Remove(id);
        }
    }

    private Progress NewProgress(bool isLearner) =>
        new(Math.Max(_lastIndex, 1), _maxInflight, _maxInflightBytes, isLearner) { RecentActive = true };

    private (TrackerConfig, SortedDictionary<ulong, Progress>) Copy()
    {
        var prs = new SortedDictionary<ulong, Progress>();
        foreach (var (id, pr) in _tracker.Progress)
        {
            prs[id] = pr.Clone();
        }

        return (_tracker.Config.Clone(), prs);
    }

    private static (TrackerConfig?, SortedDictionary<ulong, Progress>?, string?) Checked(TrackerConfig cfg, SortedDictionary<ulong, Progress> prs)
    {
        foreach (var id in cfg.Voters.Concat(cfg.Learners).Concat(cfg.LearnersNext))
        {
            if (!prs.ContainsKey(id))
            {
                return (null, null, $"no progress for {id}");
            }
        }

        foreach (var id in cfg.LearnersNext)
        {
            if (!cfg.Outgoing.Contains(id) || prs[id].IsLearner)
            {
                return (null, null, $"{id} is in LearnersNext but not an outgoing voter");
            }
        }

        foreach (var id in cfg.Learners)
        {
            if (cfg.Incoming.Contains(id) || cfg.Outgoing.Contains(id) || !prs[id].IsLearner)
            {
                return (null, null, $"{id} is a learner and a voter");
            }
        }

        return (cfg, prs, null);
    }
}
