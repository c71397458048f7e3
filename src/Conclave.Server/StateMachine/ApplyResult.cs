using Conclave.Storage.Mvcc;

namespace Conclave.Server.StateMachine;

/// <summary>
/// Expected outcomes of applying a command. Every member reaches the same one for the same entry.
/// The front ends map each to their wire error (etcd: <c>EtcdErrors</c>).
/// </summary>
public enum ApplyStatus
{
    Ok = 0,
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
}

/// <summary>What applying one command produced. <see cref="Revision"/> is the store revision after the apply.</summary>
public abstract record ApplyResult(ApplyStatus Status, long Revision);

public sealed record PutApplied(ApplyStatus Status, long Revision, KeyValue? PrevKv) : ApplyResult(Status, Revision);

public sealed record DeleteRangeApplied(ApplyStatus Status, long Revision, long Deleted, IReadOnlyList<KeyValue> PrevKvs) : ApplyResult(Status, Revision);

public sealed record TxnApplied(ApplyStatus Status, long Revision, bool Succeeded, IReadOnlyList<ResponseOp> Responses) : ApplyResult(Status, Revision);

public sealed record CompactApplied(ApplyStatus Status, long Revision) : ApplyResult(Status, Revision);

public sealed record LeaseGranted(ApplyStatus Status, long Revision, long LeaseId, long TtlSeconds) : ApplyResult(Status, Revision);

public sealed record LeaseRevoked(ApplyStatus Status, long Revision, long DeletedKeys) : ApplyResult(Status, Revision);

/// <summary>Commands with nothing to report but their status (checkpoints, alarms, empty entries).</summary>
public sealed record Applied(ApplyStatus Status, long Revision) : ApplyResult(Status, Revision);

public static class ApplyStatusMapping
{
    public static ApplyStatus FromMvcc(MvccStatus status) => status switch
    {
        MvccStatus.Ok => ApplyStatus.Ok,
        MvccStatus.Compacted => ApplyStatus.Compacted,
        MvccStatus.FutureRevision => ApplyStatus.FutureRevision,
        MvccStatus.KeyNotFound => ApplyStatus.KeyNotFound,
        MvccStatus.QuotaExceeded => ApplyStatus.NoSpace,
        MvccStatus.EmptyKey => ApplyStatus.EmptyKey,
        MvccStatus.DuplicateKey => ApplyStatus.DuplicateKey,
        MvccStatus.TooManyOps => ApplyStatus.TooManyOps,
        MvccStatus.ValueProvided => ApplyStatus.ValueProvided,
        MvccStatus.LeaseProvided => ApplyStatus.LeaseProvided,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unmapped mvcc status"),
    };
}
