namespace Conclave.Raft;

/// <summary>
/// A leader's view of one member. Match: highest index known to be replicated there.
/// Next: the next index to send. Probe: one message at a time (FlowPaused after each) until
/// a response shows where the logs match; Replicate: optimistic streaming with Next advanced on
/// send, bounded by the inflight window; Snapshot: nothing is sent until the snapshot is reported.
/// </summary>
internal sealed class Progress
{
    public Progress(ulong next, int maxInflight, ulong maxInflightBytes, bool isLearner)
        : this(next, new Inflights(maxInflight, maxInflightBytes), isLearner)
    {
    }

    private Progress(ulong next, Inflights inflights, bool isLearner)
    {
        Next = next;
        Inflights = inflights;
        IsLearner = isLearner;
    }

    /// <summary>A deep copy (the configuration changer works on copies).</summary>
    public Progress Clone() => new(Next, Inflights.Clone(), IsLearner)
    {
        Match = Match,
        State = State,
        PendingSnapshot = PendingSnapshot,
        RecentActive = RecentActive,
        FlowPaused = FlowPaused,
    };

    public ulong Match { get; set; }

    public ulong Next { get; set; }

    public ProgressState State { get; private set; } = ProgressState.Probe;

    /// <summary>In Snapshot state, the index of the snapshot sent.</summary>
    public ulong PendingSnapshot { get; private set; }

    /// <summary>Heard from since the last check-quorum round (new members start active).</summary>
    public bool RecentActive { get; set; }

    /// <summary>In Probe state: a probe is outstanding, send nothing more until a response or heartbeat response.</summary>
    public bool FlowPaused { get; set; }

    public Inflights Inflights { get; }

    public bool IsLearner { get; set; }

    private void ResetState(ProgressState state)
    {
        FlowPaused = false;
        PendingSnapshot = 0;
        State = state;
        Inflights.Reset();
    }

    public void BecomeProbe()
    {
        if (State == ProgressState.Snapshot)
        {
            var pending = PendingSnapshot;
            ResetState(ProgressState.Probe);
            Next = Math.Max(Match + 1, pending + 1);
        }
        else
        {
            ResetState(ProgressState.Probe);
            Next = Match + 1;
        }
    }

    public void BecomeReplicate()
    {
        ResetState(ProgressState.Replicate);
        Next = Match + 1;
    }

    public void BecomeSnapshot(ulong snapshotIndex)
    {
        ResetState(ProgressState.Snapshot);
        PendingSnapshot = snapshotIndex;
    }

    /// <summary>Called after sending entries up to lastIndex (0 entries: lastIndex = Next - 1).</summary>
    public void SentEntries(int count, ulong bytes, ulong lastIndex)
    {
        switch (State)
        {
            case ProgressState.Replicate:
                if (count > 0)
                {
                    Next = lastIndex + 1;
                    Inflights.Add(lastIndex, bytes);
                }

                break;
            case ProgressState.Probe:
                FlowPaused = true;
                break;
            default:
                throw new InvalidOperationException($"raft: sending entries in state {State}");
        }
    }

    /// <summary>An acknowledgment of n: returns true when Match moved forward.</summary>
    public bool MaybeUpdate(ulong n)
    {
        var updated = false;
        if (Match < n)
        {
            Match = n;
            updated = true;
            FlowPaused = false;
        }

        Next = Math.Max(Next, n + 1);
        return updated;
    }

    /// <summary>
    /// A rejection of the append at index rejected; matchHint is the follower's guess of the last
    /// index that can match. Returns false when the rejection is stale (already superseded).
    /// </summary>
    public bool MaybeDecrTo(ulong rejected, ulong matchHint)
    {
        if (State == ProgressState.Replicate)
        {
            if (rejected <= Match)
            {
                return false;
            }

            Next = Match + 1;
            return true;
        }

        if (Next - 1 != rejected)
        {
            return false;
        }

        Next = Math.Max(Math.Min(rejected, matchHint + 1), Match + 1);
        FlowPaused = false;
        return true;
    }

    /// <summary>Whether the leader must hold back Appends to this member.</summary>
    public bool IsPaused => State switch
    {
        ProgressState.Probe => FlowPaused,
        ProgressState.Replicate => Inflights.Full,
        _ => true,
    };

    public ProgressStatus ToStatus() => new(Match, Next, State, IsLearner, RecentActive, Inflights.Count, PendingSnapshot);

    public override string ToString() =>
        $"{State} match={Match} next={Next}" + (IsLearner ? " learner" : string.Empty)
        + (FlowPaused && State == ProgressState.Probe ? " paused" : string.Empty)
        + (PendingSnapshot > 0 ? $" pendingSnap={PendingSnapshot}" : string.Empty)
        + (Inflights.Count > 0 ? $" inflight={Inflights.Count}" + (Inflights.Full ? "[full]" : string.Empty) : string.Empty);
}
