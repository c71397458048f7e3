namespace Conclave.Server.Api;

/// <summary>The values etcd puts in every ResponseHeader; the other front ends use what they need.</summary>
public readonly record struct ResponseHeader(ulong ClusterId, ulong MemberId, long Revision, ulong RaftTerm);

/// <summary>
/// Every expected outcome of a server call. The first block mirrors
/// <see cref="StateMachine.ApplyStatus"/> (the same names, so mapping is by name); the rest are
/// outcomes of the member itself. Each front end has one table mapping these to its wire errors.
/// </summary>
public enum ServerStatus
{
    Ok = 0,

    // Outcomes of applying a command (see ApplyStatus).
    Compacted,
    FutureRevision,
    KeyNotFound,
    NoSpace,
    EmptyKey,
    DuplicateKey,
    TooManyOps,
    ValueProvided,
    LeaseProvided,
    LeaseNotFound,
    LeaseExists,
    LeaseTtlTooLarge,
    InvalidLeaseId,
    Corrupt,

    // Outcomes of the member.
    /// <summary>No leader is known, so nothing can be proposed or read linearizably (etcd ErrNoLeader).</summary>
    NoLeader,

    /// <summary>The request was proposed but its outcome is unknown: it may still apply (etcd ErrTimeout).</summary>
    Timeout,

    /// <summary>Leadership changed while the request was in flight; its outcome is unknown (etcd ErrLeaderChanged).</summary>
    LeaderChanged,

    /// <summary>The member is shutting down (etcd ErrStopped).</summary>
    Stopped,

    /// <summary>This member applied its own removal from the cluster and no longer serves (etcd answers ErrStopped).</summary>
    Removed,

    /// <summary>The encoded request is larger than --max-request-bytes (etcd ErrRequestTooLarge).</summary>
    RequestTooLarge,

    /// <summary>The leader holds too many uncommitted entries and refused the proposal; retry later (etcd ErrTooManyRequests).</summary>
    TooManyRequests,

    /// <summary>A request that is malformed in a way the wire decoder could not catch.</summary>
    InvalidArgument,

    MemberNotFound,
    MemberExists,
    PeerUrlExists,
    MemberNotLearner,
    LearnerNotReady,
    TooManyLearners,

    /// <summary>A membership change would leave fewer started voters than a quorum (etcd ErrNotEnoughStartedMembers).</summary>
    NotEnoughStartedMembers,

    /// <summary>The request needs the leader and this member is not it (etcd ErrNotLeader, e.g. MoveLeader).</summary>
    NotLeader,

    /// <summary>The transfer target is not a voting member (etcd ErrBadLeaderTransferee).</summary>
    BadLeaderTransferee,

    /// <summary>A membership change would leave fewer active voters than a quorum (etcd ErrUnhealthy on member add/remove).</summary>
    Unhealthy,
}

/// <summary>An answer: a status, the header as of the answer, and the value when Status is Ok (some failures carry one too).</summary>
public readonly record struct ServerResult<T>(ServerStatus Status, ResponseHeader Header, T? Value)
{
    public bool IsOk => Status == ServerStatus.Ok;
}
