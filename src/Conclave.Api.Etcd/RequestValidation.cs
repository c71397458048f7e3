using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;

namespace Conclave.Api.Etcd;

/// <summary>
/// The checks etcd's gRPC layer makes before a request reaches the server (etcd
/// <c>api/v3rpc/key.go</c>), with the same order and the same errors. Each returns null when
/// the request passes.
/// </summary>
public static class RequestValidation
{
    public static EtcdError? CheckRange(RangeRequest r)
    {
        if (r.Key.IsEmpty)
        {
            return EtcdErrors.EmptyKey;
        }
        if (!Enum.IsDefined(r.SortOrder) || !Enum.IsDefined(r.SortTarget))
        {
            return EtcdErrors.InvalidSortOption;
        }
        return null;
    }

    public static EtcdError? CheckPut(PutRequest r)
    {
        if (r.Key.IsEmpty)
        {
            return EtcdErrors.EmptyKey;
        }
        if (r.IgnoreValue && !r.Value.IsEmpty)
        {
            return EtcdErrors.ValueProvided;
        }
        if (r.IgnoreLease && r.Lease != 0)
        {
            return EtcdErrors.LeaseProvided;
        }
        return null;
    }

    public static EtcdError? CheckDeleteRange(DeleteRangeRequest r) => r.Key.IsEmpty ? EtcdErrors.EmptyKey : null;

    /// <summary>
    /// A txn: at most <paramref name="maxTxnOps"/> compares and ops per branch (a nested txn gets what
    /// its parent left over), no compare without a key, every op valid (an op with no request is
    /// "key not found", as etcd says), and no key written twice in one branch.
    /// </summary>
    public static EtcdError? CheckTxn(TxnRequest r, int maxTxnOps)
    {
        var error = CheckTxnShape(r, maxTxnOps);
        if (error is not null)
        {
            return error;
        }
        if (!TryCollectWrites(r.Success, out _, out _) || !TryCollectWrites(r.Failure, out _, out _))
        {
            return EtcdErrors.DuplicateKey;
        }
        return null;
    }

    private static EtcdError? CheckTxnShape(TxnRequest r, int maxTxnOps)
    {
        var opCount = Math.Max(r.Compare.Count, Math.Max(r.Success.Count, r.Failure.Count));
        if (opCount > maxTxnOps)
        {
            return EtcdErrors.TooManyOps;
        }
        foreach (var c in r.Compare)
        {
            if (c.Key.IsEmpty)
            {
                return EtcdErrors.EmptyKey;
            }
        }
        foreach (var op in r.Success.Concat(r.Failure))
        {
            var error = CheckOp(op, maxTxnOps - opCount);
            if (error is not null)
            {
                return error;
            }
        }
        return null;
    }

    private static EtcdError? CheckOp(RequestOp op, int maxTxnOps) => op.RequestCase switch
    {
        RequestOp.RequestOneofCase.RequestRange => CheckRange(op.RequestRange),
        RequestOp.RequestOneofCase.RequestPut => CheckPut(op.RequestPut),
        RequestOp.RequestOneofCase.RequestDeleteRange => CheckDeleteRange(op.RequestDeleteRange),
        RequestOp.RequestOneofCase.RequestTxn => CheckTxnShape(op.RequestTxn, maxTxnOps),
        _ => EtcdErrors.KeyNotFound,
    };

    /// <summary>
    /// Collects the keys a branch puts and the ranges it deletes, failing on a conflict: a key put
    /// twice, or put and deleted. Deletes may overlap each other. The two branches of a nested txn
    /// exclude each other, so a key put in both of them counts once; a key put by a nested txn and
    /// by this level is a conflict.
    /// </summary>
    private static bool TryCollectWrites(IEnumerable<RequestOp> ops, out HashSet<ByteString> puts, out List<(ByteString Key, ByteString End)> deletes)
    {
        puts = [];
        deletes = [];
        var list = ops as IList<RequestOp> ?? ops.ToList();
        foreach (var op in list)
        {
            if (op.RequestCase == RequestOp.RequestOneofCase.RequestDeleteRange)
            {
                deletes.Add((op.RequestDeleteRange.Key, op.RequestDeleteRange.RangeEnd));
            }
        }
        var childDeletes = new List<(ByteString Key, ByteString End)>();
        foreach (var op in list)
        {
            if (op.RequestCase != RequestOp.RequestOneofCase.RequestTxn)
            {
                continue;
            }
            if (!TryCollectWrites(op.RequestTxn.Success, out var putsThen, out var delsThen)
                || !TryCollectWrites(op.RequestTxn.Failure, out var putsElse, out var delsElse))
            {
                return false;
            }
            foreach (var k in putsThen)
            {
                if (!puts.Add(k) || Deletes(deletes, k))
                {
                    return false;
                }
            }
            foreach (var k in putsElse)
            {
                if ((puts.Contains(k) && !putsThen.Contains(k)) || Deletes(deletes, k))
                {
                    return false;
                }
                puts.Add(k);
            }
            childDeletes.AddRange(delsThen);
            childDeletes.AddRange(delsElse);
        }
        deletes.AddRange(childDeletes);
        foreach (var op in list)
        {
            if (op.RequestCase != RequestOp.RequestOneofCase.RequestPut)
            {
                continue;
            }
            var k = op.RequestPut.Key;
            if (!puts.Add(k) || Deletes(deletes, k))
            {
                return false;
            }
        }
        return true;
    }

    private static bool Deletes(List<(ByteString Key, ByteString End)> deletes, ByteString key)
    {
        foreach (var (k, end) in deletes)
        {
            if (Conclave.Storage.Mvcc.KeyRange.Contains(k.Span, end.Span, key.Span))
            {
                return true;
            }
        }
        return false;
    }
}
