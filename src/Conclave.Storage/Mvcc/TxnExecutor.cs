namespace Conclave.Storage.Mvcc;

/// <summary>
/// etcd's Txn (and single Put / DeleteRange requests) on top of <see cref="MvccWriteTxn"/>, all in one
/// revision. Order, as etcd's apply: validate the request (empty keys, op count, duplicate keys); evaluate
/// the compares of the txn AND of every nested txn on the chosen path against the state before any op
/// runs; check that path (range revisions, ignore_value / ignore_lease keys exist); then run the ops.
/// Any failure leaves the store unchanged.
/// </summary>
public sealed partial class MvccStore
{
    public TxnResponse Txn(TxnRequest request)
    {
        var invalid = Validate(request);
        if (invalid != MvccStatus.Ok)
        {
            return new TxnResponse(invalid, false, [], CurrentRevision);
        }
        using var txn = BeginWrite();
        var path = new List<bool>();
        ComparePath(txn, request, path);
        var pos = 0;
        var check = CheckPath(txn, request, path, ref pos);
        if (check != MvccStatus.Ok)
        {
            return new TxnResponse(check, false, [], txn.Revision);
        }
        pos = 0;
        var (status, response) = Apply(txn, request, path, ref pos);
        if (status != MvccStatus.Ok)
        {
            return new TxnResponse(status, false, [], CurrentRevision);
        }
        var batch = txn.Commit();
        return response with { Revision = txn.Revision, Events = batch.Events };
    }

    /// <summary>A single etcd Put request: its own revision. Returns (status, revision, prev kv if asked).</summary>
    public (MvccStatus Status, long Revision, KeyValue? PrevKv) Put(PutRequest request)
    {
        using var txn = BeginWrite();
        var r = txn.Put(request.Key.Span, request.Value.Span, request.Lease, request.IgnoreValue, request.IgnoreLease);
        if (r.Status != MvccStatus.Ok)
        {
            return (r.Status, txn.Revision, null);
        }
        txn.Commit();
        return (MvccStatus.Ok, r.Revision, request.PrevKv ? r.PrevKv : null);
    }

    /// <summary>A single etcd DeleteRange request. Deleting nothing does not advance the revision.</summary>
    public (MvccStatus Status, long Revision, long Deleted, IReadOnlyList<KeyValue> PrevKvs) DeleteRange(DeleteRangeRequest request)
    {
        using var txn = BeginWrite();
        var r = txn.DeleteRange(request.Key, request.RangeEnd);
        if (r.Status != MvccStatus.Ok)
        {
            return (r.Status, txn.Revision, 0, []);
        }
        txn.Commit();
        return (MvccStatus.Ok, txn.Revision, r.Deleted, request.PrevKv ? r.PrevKvs : []);
    }

    private MvccStatus Validate(TxnRequest r) => Validate(r, Options.MaxTxnOps) switch
    {
        MvccStatus.Ok => NoOverlaps(r.Success) && NoOverlaps(r.Failure) ? MvccStatus.Ok : MvccStatus.DuplicateKey,
        var s => s,
    };

    // A branch of at most one plain op (every single put, delete and range comes here as such a
    // txn) cannot overlap itself: no key sets need to be built for it.
    private static bool NoOverlaps(IReadOnlyList<RequestOp> ops) =>
        ops.Count == 0 || (ops.Count == 1 && ops[0] is not TxnOp) || CheckIntervals(ops, out _, out _);

    // etcd checkTxnRequest: the largest of compares, success and failure counts against the budget,
    // and a nested txn gets what is left of it.
    private static MvccStatus Validate(TxnRequest r, int budget)
    {
        var opc = Math.Max(r.Compare.Count, Math.Max(r.Success.Count, r.Failure.Count));
        if (opc > budget)
        {
            return MvccStatus.TooManyOps;
        }
        var s = ValidateOps(r.Success, budget - opc);
        return s != MvccStatus.Ok ? s : ValidateOps(r.Failure, budget - opc);
    }

    private static MvccStatus ValidateOps(IReadOnlyList<RequestOp> ops, int budget)
    {
        foreach (var op in ops)
        {
            var s = op switch
            {
                RangeOp o => o.Request.Key.IsEmpty ? MvccStatus.EmptyKey : MvccStatus.Ok,
                PutOp o => o.Request.Key.IsEmpty ? MvccStatus.EmptyKey
                    : o.Request.IgnoreValue && !o.Request.Value.IsEmpty ? MvccStatus.ValueProvided
                    : o.Request.IgnoreLease && o.Request.Lease != 0 ? MvccStatus.LeaseProvided
                    : MvccStatus.Ok,
                DeleteRangeOp o => o.Request.Key.IsEmpty ? MvccStatus.EmptyKey : MvccStatus.Ok,
                TxnOp o => Validate(o.Request, budget),
                _ => throw new ArgumentException($"unknown op {op.GetType().Name}", nameof(ops)),
            };
            if (s != MvccStatus.Ok)
            {
                return s;
            }
        }
        return MvccStatus.Ok;
    }

    /// <summary>
    /// etcd's duplicate-key rule for one branch: no key put twice, and no put inside a range deleted in
    /// the same branch, counting nested txns (whose then/else puts may repeat each other, being exclusive).
    /// </summary>
    private static bool CheckIntervals(IReadOnlyList<RequestOp> ops, out HashSet<string> puts, out List<(byte[] Key, byte[] End)> dels)
    {
        puts = [];
        dels = [];
        foreach (var op in ops)
        {
            if (op is DeleteRangeOp d)
            {
                dels.Add((d.Request.Key.ToArray(), d.Request.RangeEnd.ToArray()));
            }
        }
        foreach (var op in ops)
        {
            if (op is not TxnOp t)
            {
                continue;
            }
            if (!CheckIntervals(t.Request.Success, out var putsThen, out var delsThen) ||
                !CheckIntervals(t.Request.Failure, out var putsElse, out var delsElse))
            {
                return false;
            }
            foreach (var k in putsThen)
            {
                if (puts.Contains(k) || Intersects(dels, k))
                {
                    return false;
                }
                puts.Add(k);
            }
            foreach (var k in putsElse)
            {
                if ((puts.Contains(k) && !putsThen.Contains(k)) || Intersects(dels, k))
                {
                    return false;
                }
                puts.Add(k);
            }
            dels.AddRange(delsThen);
            dels.AddRange(delsElse);
        }
        foreach (var op in ops)
        {
            if (op is not PutOp p)
            {
                continue;
            }
            var k = Convert.ToHexString(p.Request.Key.Span);
            if (puts.Contains(k) || Intersects(dels, k))
            {
                return false;
            }
            puts.Add(k);
        }
        return true;
    }

    private static bool Intersects(List<(byte[] Key, byte[] End)> dels, string hexKey)
    {
        var k = Convert.FromHexString(hexKey);
        foreach (var (key, end) in dels)
        {
            if (KeyRange.Contains(key, end, k))
            {
                return true;
            }
        }
        return false;
    }

    private static void ComparePath(MvccWriteTxn txn, TxnRequest r, List<bool> path)
    {
        var ok = r.Compare.All(c => Evaluate(txn, c));
        path.Add(ok);
        foreach (var op in ok ? r.Success : r.Failure)
        {
            if (op is TxnOp t)
            {
                ComparePath(txn, t.Request, path);
            }
        }
    }

    private static bool Evaluate(MvccWriteTxn txn, Compare c)
    {
        var rr = txn.Range(new RangeRequest { Key = c.Key, RangeEnd = c.RangeEnd });
        if (rr.Status != MvccStatus.Ok)
        {
            return false;
        }
        if (rr.Kvs.Count == 0)
        {
            return c.Target != CompareTarget.Value && CompareOne(c, null);
        }
        foreach (var kv in rr.Kvs)
        {
            if (!CompareOne(c, kv))
            {
                return false;
            }
        }
        return true;
    }

    private static bool CompareOne(Compare c, KeyValue? kv)
    {
        var cmp = c.Target switch
        {
            CompareTarget.Version => (kv?.Version ?? 0).CompareTo(c.Number),
            CompareTarget.Create => (kv?.CreateRevision ?? 0).CompareTo(c.Number),
            CompareTarget.Mod => (kv?.ModRevision ?? 0).CompareTo(c.Number),
            CompareTarget.Lease => (kv?.Lease ?? 0).CompareTo(c.Number),
            CompareTarget.Value => (kv?.Value ?? ReadOnlyMemory<byte>.Empty).Span.SequenceCompareTo(c.Value.Span),
            _ => throw new ArgumentOutOfRangeException(nameof(c), c.Target, "unknown compare target"),
        };
        return c.Result switch
        {
            CompareResult.Equal => cmp == 0,
            CompareResult.NotEqual => cmp != 0,
            CompareResult.Greater => cmp > 0,
            CompareResult.Less => cmp < 0,
            _ => throw new ArgumentOutOfRangeException(nameof(c), c.Result, "unknown compare result"),
        };
    }

    // etcd checkRequests: on the chosen path, range revisions must be readable and
    // ignore_value / ignore_lease puts need an existing key, all judged before any op runs.
    private MvccStatus CheckPath(MvccWriteTxn txn, TxnRequest r, List<bool> path, ref int pos)
    {
        var ops = path[pos++] ? r.Success : r.Failure;
        foreach (var op in ops)
        {
            switch (op)
            {
                case RangeOp o:
                    var rev = o.Request.Revision;
                    if (rev != 0 && rev > txn.Revision)
                    {
                        return MvccStatus.FutureRevision;
                    }
                    if (rev != 0 && rev < txn.CompactRevision)
                    {
                        return MvccStatus.Compacted;
                    }
                    break;
                case PutOp o when o.Request.IgnoreValue || o.Request.IgnoreLease:
                    if (txn.Range(RangeRequest.Single(o.Request.Key)).Kvs.Count == 0)
                    {
                        return MvccStatus.KeyNotFound;
                    }
                    break;
                case TxnOp o:
                    var s = CheckPath(txn, o.Request, path, ref pos);
                    if (s != MvccStatus.Ok)
                    {
                        return s;
                    }
                    break;
            }
        }
        return MvccStatus.Ok;
    }

    private static (MvccStatus, TxnResponse) Apply(MvccWriteTxn txn, TxnRequest r, List<bool> path, ref int pos)
    {
        var succeeded = path[pos++];
        var ops = succeeded ? r.Success : r.Failure;
        var responses = new List<ResponseOp>(ops.Count);
        foreach (var op in ops)
        {
            switch (op)
            {
                case RangeOp o:
                    {
                        var rr = txn.Range(o.Request);
                        if (rr.Status != MvccStatus.Ok)
                        {
                            return (rr.Status, null!);
                        }
                        responses.Add(new RangeResponseOp(rr));
                        break;
                    }
                case PutOp o:
                    {
                        var p = o.Request;
                        var pr = txn.Put(p.Key.Span, p.Value.Span, p.Lease, p.IgnoreValue, p.IgnoreLease);
                        if (pr.Status != MvccStatus.Ok)
                        {
                            return (pr.Status, null!);
                        }
                        responses.Add(new PutResponseOp(p.PrevKv ? pr.PrevKv : null));
                        break;
                    }
                case DeleteRangeOp o:
                    {
                        var dr = txn.DeleteRange(o.Request.Key, o.Request.RangeEnd);
                        if (dr.Status != MvccStatus.Ok)
                        {
                            return (dr.Status, null!);
                        }
                        responses.Add(new DeleteRangeResponseOp(dr.Deleted, o.Request.PrevKv ? dr.PrevKvs : []));
                        break;
                    }
                case TxnOp o:
                    {
                        var (s, nested) = Apply(txn, o.Request, path, ref pos);
                        if (s != MvccStatus.Ok)
                        {
                            return (s, null!);
                        }
                        responses.Add(new TxnResponseOp(nested with { Revision = txn.Revision }));
                        break;
                    }
                default:
                    throw new ArgumentException($"unknown op {op.GetType().Name}", nameof(r));
            }
        }
        return (MvccStatus.Ok, new TxnResponse(MvccStatus.Ok, succeeded, responses, txn.Revision));
    }
}
