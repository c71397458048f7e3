namespace Conclave.Raft;

public enum RaftRole
{
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// <summary>State that need not be persisted: who leads and what this member is.</summary>
public sealed record SoftState(ulong Lead, RaftRole Role);

/// <summary>An answer to a ReadIndex request: the read may be served once the applied index reaches Index.</summary>
public readonly record struct ReadState(ulong Index, ReadOnlyMemory<byte> Context);

/// <summary>
/// What the driver must do after the core changed state, in this order:
/// 1. send <see cref="Messages"/> (may happen at once, in parallel with 2);
/// 2. persist <see cref="Snapshot"/>, then <see cref="Entries"/>, then <see cref="HardState"/> (fsync when <see cref="MustSync"/>);
/// 3. send <see cref="MessagesAfterPersist"/>;
/// 4. apply <see cref="CommittedEntries"/> in order (calling <see cref="RawNode.ApplyConfChange"/> for ConfChange entries);
/// 5. call <see cref="RawNode.Advance"/> with this Ready. GetReady must not be called again before that.
/// Between GetReady and Advance the driver may go on stepping input (peer messages, ticks, proposals,
/// reads) and send what <see cref="RawNode.TakeMessages"/> returns at once; everything else the core
/// produces meanwhile comes in the next Ready.
/// </summary>
public sealed class Ready
{
    /// <summary>null = unchanged since the last Ready.</summary>
    public SoftState? SoftState { get; init; }

    /// <summary><see cref="HardState.Empty"/> = unchanged since the last Ready.</summary>
    public HardState HardState { get; init; }

    public IReadOnlyList<ReadState> ReadStates { get; init; } = [];

    /// <summary>To append to stable storage; the first entry may overwrite a conflicting suffix.</summary>
    public IReadOnlyList<Entry> Entries { get; init; } = [];

    /// <summary><see cref="Conclave.Raft.Snapshot.Empty"/> unless a snapshot from the leader must be installed.</summary>
    public Snapshot Snapshot { get; init; } = Snapshot.Empty;

    /// <summary>Committed entries to apply, all already durable on this member.</summary>
    public IReadOnlyList<Entry> CommittedEntries { get; init; } = [];

    /// <summary>
    /// May be sent before or while this Ready is persisted: a leader's Append, Heartbeat, Snapshot and
    /// TimeoutNow, and messages that promise nothing durable (forwarded Propose and ReadIndex,
    /// ReadIndexResponse, HeartbeatResponse).
    /// </summary>
    public IReadOnlyList<Message> Messages { get; init; } = [];

    /// <summary>Send only after this Ready's Snapshot, Entries and HardState are durable (votes, vote and append responses, the rest).</summary>
    public IReadOnlyList<Message> MessagesAfterPersist { get; init; } = [];

    /// <summary>True when Entries or the term/vote changed: the write must be fsynced.</summary>
    public bool MustSync { get; init; }
}

public enum ProposeStatus
{
    /// <summary>Appended to the leader's log, or forwarded to the known leader (it may still be lost).</summary>
    Accepted,

    /// <summary>No leader is known (no election won yet, or this member is campaigning).</summary>
    NotLeader,

    /// <summary>The leader refused it; <see cref="ProposeResult.Reason"/> says why.</summary>
    Dropped,
}

public readonly record struct ProposeResult(ProposeStatus Status, string? Reason = null)
{
    public static ProposeResult Accepted { get; } = new(ProposeStatus.Accepted);

    public bool IsAccepted => Status == ProposeStatus.Accepted;

    internal static ProposeResult NotLeader(string reason) => new(ProposeStatus.NotLeader, reason);

    internal static ProposeResult Dropped(string reason) => new(ProposeStatus.Dropped, reason);

    public override string ToString() => Reason is null ? Status.ToString() : $"{Status}: {Reason}";
}

public enum StepStatus
{
    /// <summary>The message was processed (which may mean: answered with a rejection).</summary>
    Ok,

    /// <summary>Dropped without effect: stale term, unknown sender, or a request nobody can serve now.</summary>
    Ignored,

    /// <summary>A message type peers may not send (a local type) or a malformed message.</summary>
    Rejected,
}

public readonly record struct StepResult(StepStatus Status, string? Reason = null)
{
    public static StepResult Ok { get; } = new(StepStatus.Ok);

    public override string ToString() => Reason is null ? Status.ToString() : $"{Status}: {Reason}";
}

public enum ProgressState
{
    /// <summary>One Append at a time until the follower's match is found.</summary>
    Probe,

    /// <summary>Streaming: up to MaxInflightMsgs Appends in flight.</summary>
    Replicate,

    /// <summary>A snapshot was sent; waiting for it to be reported.</summary>
    Snapshot,
}

/// <summary>A leader's view of one member's replication.</summary>
public sealed record ProgressStatus(ulong Match, ulong Next, ProgressState State, bool IsLearner, bool RecentActive, int Inflight, ulong PendingSnapshot);

public sealed record RaftStatus
{
    public ulong Id { get; init; }

    public ulong Term { get; init; }

    public ulong Vote { get; init; }

    public ulong Commit { get; init; }

    public ulong Applied { get; init; }

    public ulong Lead { get; init; }

    public RaftRole Role { get; init; }

    public ulong LeadTransferee { get; init; }

    public ConfState ConfState { get; init; } = ConfState.Empty;

    /// <summary>Per member, filled only on the leader.</summary>
    public IReadOnlyDictionary<ulong, ProgressStatus> Progress { get; init; } = new Dictionary<ulong, ProgressStatus>();
}
