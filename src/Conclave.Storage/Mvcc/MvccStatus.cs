namespace Conclave.Storage.Mvcc;

/// <summary>
/// Expected outcomes of store operations. The front end maps them to wire codes; the etcd
/// message of each is <see cref="MvccStatusMessages.Message"/>.
/// </summary>
public enum MvccStatus
{
    Ok = 0,

    /// <summary>The requested revision is below the compaction revision (etcd ErrCompacted).</summary>
    Compacted,

    /// <summary>The requested revision is above the current revision (etcd ErrFutureRev).</summary>
    FutureRevision,

    /// <summary>ignore_value / ignore_lease on a key that does not exist (etcd ErrKeyNotFound).</summary>
    KeyNotFound,

    /// <summary>A put would take the store over its byte quota (etcd ErrNoSpace).</summary>
    QuotaExceeded,

    /// <summary>An empty key in a put, delete, range or compare.</summary>
    EmptyKey,

    /// <summary>A txn writes one key twice, or puts a key it also deletes (etcd ErrGRPCDuplicateKey).</summary>
    DuplicateKey,

    /// <summary>A txn has more operations than allowed (etcd ErrGRPCTooManyOps).</summary>
    TooManyOps,

    /// <summary>ignore_value with a value given (etcd ErrGRPCValueProvided).</summary>
    ValueProvided,

    /// <summary>ignore_lease with a lease given (etcd ErrGRPCLeaseProvided).</summary>
    LeaseProvided,
}

public static class MvccStatusMessages
{
    /// <summary>The exact message etcd uses for the outcome (clientv3 matches on it), "" for Ok.</summary>
    public static string Message(this MvccStatus status) => status switch
    {
        MvccStatus.Ok => "",
        MvccStatus.Compacted => "mvcc: required revision has been compacted",
        MvccStatus.FutureRevision => "mvcc: required revision is a future revision",
        MvccStatus.KeyNotFound => "etcdserver: key not found",
        MvccStatus.QuotaExceeded => "etcdserver: mvcc: database space exceeded",
        MvccStatus.EmptyKey => "etcdserver: key is not provided",
        MvccStatus.DuplicateKey => "etcdserver: duplicate key given in txn request",
        MvccStatus.TooManyOps => "etcdserver: too many operations in txn request",
        MvccStatus.ValueProvided => "etcdserver: value is provided",
        MvccStatus.LeaseProvided => "etcdserver: lease is provided",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}
