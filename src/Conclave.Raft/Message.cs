namespace Conclave.Raft;

/// <summary>
/// Message kinds. Hup, Beat, CheckQuorum, Unreachable and SnapshotStatus are local: the node
/// makes them for itself and <see cref="RawNode.Step"/> rejects them from peers. Propose,
/// ReadIndex and TransferLeader are local requests that a follower forwards to its leader.
/// Values are part of the wire format (<see cref="MessageCodec"/>): never renumber.
/// </summary>
public enum MessageType : byte
{
    Hup = 0,
    Beat = 1,
    Propose = 2,
    Append = 3,
    AppendResponse = 4,
    Vote = 5,
    VoteResponse = 6,
    PreVote = 7,
    PreVoteResponse = 8,
    Snapshot = 9,
    Heartbeat = 10,
    HeartbeatResponse = 11,
    Unreachable = 12,
    SnapshotStatus = 13,
    CheckQuorum = 14,
    TransferLeader = 15,
    TimeoutNow = 16,
    ReadIndex = 17,
    ReadIndexResponse = 18,
}

/// <summary>
/// One message between members. Field meaning by type:
/// Append: (Index, LogTerm) is the entry preceding <see cref="Entries"/>, Commit the leader's commit index.
/// AppendResponse: Index is the last index the follower now holds (accept) or the rejected Index,
/// with RejectHint/LogTerm naming the follower's best guess of a matching position (reject).
/// Vote/PreVote: (Index, LogTerm) is the candidate's last entry; Term is the term campaigned for.
/// Heartbeat/HeartbeatResponse: Context carries a ReadIndex round's context.
/// ReadIndex/ReadIndexResponse: Context is the caller's request id, Index the read index.
/// TransferLeader: From names the transferee.
/// Propose and ReadIndex are sent with Term 0 (they are requests, not part of the protocol proper).
/// </summary>
public sealed record Message
{
    public MessageType Type { get; init; }

    public ulong To { get; init; }

    public ulong From { get; init; }

    public ulong Term { get; init; }

    public ulong LogTerm { get; init; }

    public ulong Index { get; init; }

    public IReadOnlyList<Entry> Entries { get; init; } = [];

    public ulong Commit { get; init; }

    public Snapshot? Snapshot { get; init; }

    public bool Reject { get; init; }

    public ulong RejectHint { get; init; }

    public ReadOnlyMemory<byte> Context { get; init; }

    /// <summary>True for message types that only the node itself may create.</summary>
    public static bool IsLocalOnly(MessageType type) =>
        type is MessageType.Hup or MessageType.Beat or MessageType.CheckQuorum
            or MessageType.Unreachable or MessageType.SnapshotStatus;

    /// <summary>True for responses; a response from a member not in the configuration is ignored.</summary>
    public static bool IsResponse(MessageType type) =>
        type is MessageType.AppendResponse or MessageType.VoteResponse or MessageType.PreVoteResponse
            or MessageType.HeartbeatResponse or MessageType.ReadIndexResponse;

    public override string ToString()
    {
        var s = $"{From}->{To} {Type} Term:{Term} Log:{LogTerm}/{Index}";
        if (Reject)
        {
            s += $" Rejected (Hint: {RejectHint})";
        }

        if (Commit != 0)
        {
            s += $" Commit:{Commit}";
        }

        if (Entries.Count > 0)
        {
            s += " Entries:[" + string.Join(", ", Entries.Select(e => $"{e.Term}/{e.Index}")) + "]";
        }

        if (Snapshot is { } snap && !snap.IsEmpty)
        {
            s += $" Snapshot: Index:{snap.Metadata.Index} Term:{snap.Metadata.Term} {snap.Metadata.ConfState}";
        }

        if (!Context.IsEmpty)
        {
            s += $" Context:{Convert.ToHexString(Context.Span)}";
        }

        return s;
    }
}
