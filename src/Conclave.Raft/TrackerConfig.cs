namespace Conclave.Raft;

/// <summary>
/// A membership configuration. Outside joint consensus <see cref="Outgoing"/> is empty. In a joint
/// configuration both <see cref="Incoming"/> and <see cref="Outgoing"/> majorities must agree.
/// <see cref="LearnersNext"/>: members of Outgoing that become learners when the joint configuration
/// is left (they cannot be learners and voters at once). Sorted sets keep iteration deterministic.
/// </summary>
internal sealed class TrackerConfig
{
    public SortedSet<ulong> Incoming { get; init; } = [];

    public SortedSet<ulong> Outgoing { get; init; } = [];

    public SortedSet<ulong> Learners { get; init; } = [];

    public SortedSet<ulong> LearnersNext { get; init; } = [];

    public bool AutoLeave { get; set; }

    public bool IsJoint => Outgoing.Count > 0;

    public TrackerConfig Clone() => new()
    {
        Incoming = [.. Incoming],
        Outgoing = [.. Outgoing],
        Learners = [.. Learners],
        LearnersNext = [.. LearnersNext],
        AutoLeave = AutoLeave,
    };

    public IEnumerable<ulong> Voters => Incoming.Union(Outgoing).Order();

    public ConfState ToConfState() => new()
    {
        Voters = [.. Incoming],
        VotersOutgoing = [.. Outgoing],
        Learners = [.. Learners],
        LearnersNext = [.. LearnersNext],
        AutoLeave = AutoLeave,
    };

    public static TrackerConfig From(ConfState cs) => new()
    {
        Incoming = [.. cs.Voters],
        Outgoing = [.. cs.VotersOutgoing],
        Learners = [.. cs.Learners],
        LearnersNext = [.. cs.LearnersNext],
        AutoLeave = cs.AutoLeave,
    };
}

/// <summary>The leader's (or candidate's) bookkeeping: the configuration, per-member progress and votes.</summary>
internal sealed class ProgressTracker
{
    public ProgressTracker(TrackerConfig config, SortedDictionary<ulong, Progress> progress)
    {
        Config = config;
        Progress = progress;
    }

    public TrackerConfig Config { get; set; }

    public SortedDictionary<ulong, Progress> Progress { get; set; }

    public Dictionary<ulong, bool> Votes { get; } = [];

    public bool IsSingleton => Config.Incoming.Count == 1 && Config.Outgoing.Count == 0;

    public ulong Committed() =>
        Joint.CommittedIndex(Config.Incoming, Config.Outgoing, id => Progress.TryGetValue(id, out var pr) ? pr.Match : 0);

    /// <summary>Whether a quorum was heard from recently (RecentActive).</summary>
    public bool QuorumActive()
    {
        var votes = new Dictionary<ulong, bool>();
        foreach (var (id, pr) in Progress)
        {
            if (!pr.IsLearner)
            {
                votes[id] = pr.RecentActive;
            }
        }

        return Joint.Vote(Config.Incoming, Config.Outgoing, votes) == VoteResult.Won;
    }

    public void RecordVote(ulong id, bool granted) => Votes.TryAdd(id, granted);

    public (int Granted, int Rejected, VoteResult Result) TallyVotes()
    {
        int granted = 0, rejected = 0;
        foreach (var id in Config.Voters)
        {
            if (Votes.TryGetValue(id, out var v))
            {
                if (v)
                {
                    granted++;
                }
                else
                {
                    rejected++;
                }
            }
        }

        return (granted, rejected, Joint.Vote(Config.Incoming, Config.Outgoing, Votes));
    }

    public void ResetVotes() => Votes.Clear();
}
