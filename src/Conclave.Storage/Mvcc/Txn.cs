namespace Conclave.Storage.Mvcc;

public enum CompareTarget
{
    Version = 0,
    Create = 1,
    Mod = 2,
    Value = 3,
    Lease = 4,
}

public enum CompareResult
{
    Equal = 0,
    Greater = 1,
    Less = 2,
    NotEqual = 3,
}

/// <summary>
/// etcd's Compare: the key's <see cref="Target"/> (as of the txn's start) against <see cref="Number"/>
/// (version, create revision, mod revision or lease) or <see cref="Value"/>. With a
/// <see cref="RangeEnd"/> every key in the range must pass. A missing key compares as a kv of zeros,
/// except for VALUE, which then always fails.
/// </summary>
public sealed record Compare
{
    public ReadOnlyMemory<byte> Key { get; init; }

    public ReadOnlyMemory<byte> RangeEnd { get; init; }

    public CompareTarget Target { get; init; }

    public CompareResult Result { get; init; }

    public long Number { get; init; }

    public ReadOnlyMemory<byte> Value { get; init; }
}

public sealed record PutRequest
{
    public ReadOnlyMemory<byte> Key { get; init; }

    public ReadOnlyMemory<byte> Value { get; init; }

    public long Lease { get; init; }

    public bool PrevKv { get; init; }

    public bool IgnoreValue { get; init; }

    public bool IgnoreLease { get; init; }
}

public sealed record DeleteRangeRequest
{
    public ReadOnlyMemory<byte> Key { get; init; }

    public ReadOnlyMemory<byte> RangeEnd { get; init; }

    public bool PrevKv { get; init; }
}

public sealed record TxnRequest
{
    public IReadOnlyList<Compare> Compare { get; init; } = [];

    public IReadOnlyList<RequestOp> Success { get; init; } = [];

    public IReadOnlyList<RequestOp> Failure { get; init; } = [];
}

/// <summary>One operation of a txn branch: exactly one of the four kinds.</summary>
public abstract record RequestOp
{
    public static RequestOp Range(RangeRequest r) => new RangeOp(r);

    public static RequestOp Put(PutRequest r) => new PutOp(r);

    public static RequestOp DeleteRange(DeleteRangeRequest r) => new DeleteRangeOp(r);

    public static RequestOp Txn(TxnRequest r) => new TxnOp(r);
}

public sealed record RangeOp(RangeRequest Request) : RequestOp;

public sealed record PutOp(PutRequest Request) : RequestOp;

public sealed record DeleteRangeOp(DeleteRangeRequest Request) : RequestOp;

public sealed record TxnOp(TxnRequest Request) : RequestOp;

public abstract record ResponseOp;

public sealed record RangeResponseOp(RangeResult Response) : ResponseOp;

/// <summary>PrevKv only when the request asked for it.</summary>
public sealed record PutResponseOp(KeyValue? PrevKv) : ResponseOp;

/// <summary>PrevKvs only when the request asked for them.</summary>
public sealed record DeleteRangeResponseOp(long Deleted, IReadOnlyList<KeyValue> PrevKvs) : ResponseOp;

public sealed record TxnResponseOp(TxnResponse Response) : ResponseOp;

/// <summary>
/// Outcome of a txn. On a non-Ok <see cref="Status"/> nothing was changed and Responses is empty.
/// <see cref="Revision"/> is the new revision when the txn wrote something, else the current one.
/// <see cref="Events"/> are the changes made (also given to subscribers).
/// </summary>
public sealed record TxnResponse(MvccStatus Status, bool Succeeded, IReadOnlyList<ResponseOp> Responses, long Revision)
{
    public IReadOnlyList<Event> Events { get; init; } = [];
}
