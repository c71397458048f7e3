namespace Conclave.Raft;

/// <summary>
/// Test-only deliberate bugs, used to show that the simulator and the tests catch them.
/// Both are off by default; when off they cost one flag test on a cold path.
/// </summary>
[Flags]
internal enum RaftBugs
{
    None = 0,

    /// <summary>A node grants a vote even though it already voted for another candidate in this term.</summary>
    VoteTwiceInTerm = 1,

    /// <summary>The leader commits the highest index acknowledged by any single voter instead of by a quorum.</summary>
    CommitOnMinority = 2,
}

/// <summary>Settings of one consensus core. Times are in ticks: the driver decides how long a tick is.</summary>
public sealed class RaftConfig
{
    /// <summary>This member's id; never 0.</summary>
    public required ulong Id { get; init; }

    /// <summary>The durable log and state the core reads; the driver writes it from each Ready.</summary>
    public required IRaftStorage Storage { get; init; }

    /// <summary>
    /// Ticks without hearing from a leader before a follower campaigns. The real timeout is
    /// randomized in [ElectionTick, 2*ElectionTick). Must be greater than HeartbeatTick.
    /// </summary>
    public int ElectionTick { get; init; } = 10;

    /// <summary>Ticks between a leader's heartbeats.</summary>
    public int HeartbeatTick { get; init; } = 1;

    /// <summary>The last index the state machine has applied (on restart); committed entries are handed out after it.</summary>
    public ulong Applied { get; init; }

    /// <summary>Upper bound in bytes of entry data in one Append message (at least one entry is always sent).</summary>
    public ulong MaxSizePerMsg { get; init; } = 1 << 20;

    /// <summary>Upper bound in bytes of entry data in one Ready's CommittedEntries (at least one entry); 0 = MaxSizePerMsg.</summary>
    public ulong MaxCommittedSizePerReady { get; init; }

    /// <summary>Append messages a leader keeps in flight to one follower in the Replicate state.</summary>
    public int MaxInflightMsgs { get; init; } = 256;

    /// <summary>Bytes of entry data a leader accepts that are not yet committed; 0 = no limit.</summary>
    public ulong MaxUncommittedEntriesSize { get; init; }

    /// <summary>Run a pre-vote round (no term change) before a real election, so a partitioned member rejoining does not disrupt the leader.</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>The leader steps down when it has not heard from a quorum within an election timeout; followers with a live leader ignore votes.</summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>Seeds the randomized election timeout (mixed with Id, so members of one cluster differ).</summary>
    public int RandomSeed { get; init; }

    internal RaftBugs Bugs { get; init; }

    internal void Validate()
    {
        if (Id == 0)
        {
            throw new ArgumentException("raft: Id must not be 0");
        }

        if (HeartbeatTick <= 0)
        {
            throw new ArgumentException("raft: HeartbeatTick must be greater than 0");
        }

        if (ElectionTick <= HeartbeatTick)
        {
            throw new ArgumentException("raft: ElectionTick must be greater than HeartbeatTick");
        }

        if (MaxInflightMsgs <= 0)
        {
            throw new ArgumentException("raft: MaxInflightMsgs must be greater than 0");
        }

        ArgumentNullException.ThrowIfNull(Storage);
    }
}
