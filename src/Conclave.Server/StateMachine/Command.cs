using Conclave.Storage.Mvcc;

namespace Conclave.Server.StateMachine;

/// <summary>
/// A replicated request: what one log entry asks every member to apply. Commands carry everything
/// the apply needs — never a clock reading or a random number taken during apply — so every member
/// computes the same result. <see cref="RequestId"/> lets the member that proposed the command
/// find the caller waiting for it; 0 means nobody waits.
/// </summary>
public abstract record Command
{
    public ulong RequestId { get; init; }
}

public sealed record PutCommand(PutRequest Request) : Command;

public sealed record DeleteRangeCommand(DeleteRangeRequest Request) : Command;

public sealed record TxnCommand(TxnRequest Request) : Command;

/// <summary>etcd Compact: history below <see cref="Revision"/> is discarded.</summary>
public sealed record CompactCommand(long Revision) : Command;

/// <summary>Grant of a lease whose id the proposer chose (ids are chosen before proposing, so apply is deterministic).</summary>
public sealed record LeaseGrantCommand(long LeaseId, long TtlSeconds) : Command;

/// <summary>Revoke by a client or by the leader on expiry: the lease and every key attached to it go, in one revision.</summary>
public sealed record LeaseRevokeCommand(long LeaseId) : Command;

/// <summary>The leader's record of how long each lease had left, so a new leader resumes from it instead of the full TTL.</summary>
public sealed record LeaseCheckpointCommand(IReadOnlyList<LeaseCheckpoint> Checkpoints) : Command;

public readonly record struct LeaseCheckpoint(long LeaseId, long RemainingTtlSeconds);

/// <summary>
/// A member's attributes as it publishes them once it runs (etcd's publish): its name and the
/// URLs clients reach it on. Replicated, so every member's member list shows every member's
/// client URLs, and the bootstrap state (which names no client URLs) is the same on all members.
/// </summary>
public sealed record MemberAttributesCommand(ulong MemberId, string Name, IReadOnlyList<string> ClientUrls) : Command;

/// <summary>Raise or clear an alarm of one member (0 = every member, for deactivation).</summary>
public sealed record AlarmCommand(AlarmAction Action, ulong MemberId, AlarmType Alarm) : Command;

/// <summary>Alarm kinds; values are etcd's AlarmType numbers.</summary>
public enum AlarmType : byte
{
    None = 0,
    NoSpace = 1,
    Corrupt = 2,
}

public enum AlarmAction : byte
{
    Activate = 1,
    Deactivate = 2,
}
