using Conclave.Server.Api;
using Google.Protobuf;
using Mvcc = Conclave.Storage.Mvcc;
using Wire = Conclave.Api.Etcd.Protocol;
using WireKv = Conclave.Api.Etcd.Protocol.MvccPb;

namespace Conclave.Api.Etcd;

/// <summary>
/// Protobuf messages to the server's request records and back. Pure functions: no validation
/// (see <see cref="RequestValidation"/>) and no I/O. Request bytes are shared with the protobuf
/// message, not copied: the message is not touched after the call.
/// </summary>
public static class ProtoConversions
{
    public static Wire.ResponseHeader ToProto(this ResponseHeader h) => new()
    {
        ClusterId = h.ClusterId,
        MemberId = h.MemberId,
        Revision = h.Revision,
        RaftTerm = h.RaftTerm,
    };

    public static Mvcc.RangeRequest ToServer(this Wire.RangeRequest r) => new()
    {
        Key = r.Key.Memory,
        RangeEnd = r.RangeEnd.Memory,
        Limit = r.Limit,
        Revision = r.Revision,
        SortOrder = (Mvcc.SortOrder)r.SortOrder,
        SortTarget = (Mvcc.SortTarget)r.SortTarget,
        KeysOnly = r.KeysOnly,
        CountOnly = r.CountOnly,
        MinModRevision = r.MinModRevision,
        MaxModRevision = r.MaxModRevision,
        MinCreateRevision = r.MinCreateRevision,
        MaxCreateRevision = r.MaxCreateRevision,
    };

    public static Mvcc.PutRequest ToServer(this Wire.PutRequest r) => new()
    {
        Key = r.Key.Memory,
        Value = r.Value.Memory,
        Lease = r.Lease,
        PrevKv = r.PrevKv,
        IgnoreValue = r.IgnoreValue,
        IgnoreLease = r.IgnoreLease,
    };

    public static Mvcc.DeleteRangeRequest ToServer(this Wire.DeleteRangeRequest r) => new()
    {
        Key = r.Key.Memory,
        RangeEnd = r.RangeEnd.Memory,
        PrevKv = r.PrevKv,
    };

    public static Mvcc.TxnRequest ToServer(this Wire.TxnRequest r) => new()
    {
        Compare = r.Compare.Select(ToServer).ToArray(),
        Success = r.Success.Select(ToServer).ToArray(),
        Failure = r.Failure.Select(ToServer).ToArray(),
    };

    public static Mvcc.Compare ToServer(this Wire.Compare c) => new()
    {
        Key = c.Key.Memory,
        RangeEnd = c.RangeEnd.Memory,
        Target = (Mvcc.CompareTarget)c.Target,
        Result = (Mvcc.CompareResult)c.Result,
        // The number is read from the union member that matches the target, as etcd does; a
        // different member set by the client reads as 0.
        Number = c.Target switch
        {
            Wire.Compare.Types.CompareTarget.Version => c.Version,
            Wire.Compare.Types.CompareTarget.Create => c.CreateRevision,
            Wire.Compare.Types.CompareTarget.Mod => c.ModRevision,
            Wire.Compare.Types.CompareTarget.Lease => c.Lease,
            _ => 0,
        },
        Value = c.Target == Wire.Compare.Types.CompareTarget.Value ? c.Value.Memory : ReadOnlyMemory<byte>.Empty,
    };

    public static Mvcc.RequestOp ToServer(this Wire.RequestOp op) => op.RequestCase switch
    {
        Wire.RequestOp.RequestOneofCase.RequestRange => Mvcc.RequestOp.Range(op.RequestRange.ToServer()),
        Wire.RequestOp.RequestOneofCase.RequestPut => Mvcc.RequestOp.Put(op.RequestPut.ToServer()),
        Wire.RequestOp.RequestOneofCase.RequestDeleteRange => Mvcc.RequestOp.DeleteRange(op.RequestDeleteRange.ToServer()),
        Wire.RequestOp.RequestOneofCase.RequestTxn => Mvcc.RequestOp.Txn(op.RequestTxn.ToServer()),
        _ => throw new ArgumentException("empty RequestOp reached conversion; validation must refuse it", nameof(op)),
    };

    public static WireKv.KeyValue ToProto(this Mvcc.KeyValue kv) => new()
    {
        Key = UnsafeByteOperations.UnsafeWrap(kv.Key),
        Value = UnsafeByteOperations.UnsafeWrap(kv.Value),
        CreateRevision = kv.CreateRevision,
        ModRevision = kv.ModRevision,
        Version = kv.Version,
        Lease = kv.Lease,
    };

    public static WireKv.Event ToProto(this Mvcc.Event ev)
    {
        var e = new WireKv.Event
        {
            Type = ev.Type == Mvcc.EventType.Put ? WireKv.Event.Types.EventType.Put : WireKv.Event.Types.EventType.Delete,
            Kv = ev.Kv.ToProto(),
        };
        if (ev.PrevKv is not null)
        {
            e.PrevKv = ev.PrevKv.ToProto();
        }
        return e;
    }

    /// <summary>A range result; the header is the caller's (etcd puts the current revision there).</summary>
    public static Wire.RangeResponse ToProto(this Mvcc.RangeResult r, Wire.ResponseHeader header)
    {
        var response = new Wire.RangeResponse { Header = header, More = r.More, Count = r.Count };
        foreach (var kv in r.Kvs)
        {
            response.Kvs.Add(kv.ToProto());
        }
        return response;
    }

    public static Wire.TxnResponse ToProto(this Mvcc.TxnResponse r, Wire.ResponseHeader header) =>
        ToProto(r.Succeeded, r.Responses, header);

    /// <summary>
    /// A txn result. The responses of its ops carry a header with only the revision of the whole
    /// txn, as etcd fills them.
    /// </summary>
    public static Wire.TxnResponse ToProto(bool succeeded, IReadOnlyList<Mvcc.ResponseOp> responses, Wire.ResponseHeader header)
    {
        var response = new Wire.TxnResponse { Header = header, Succeeded = succeeded };
        var nested = new Wire.ResponseHeader { Revision = header.Revision };
        foreach (var op in responses)
        {
            response.Responses.Add(ToProto(op, nested));
        }
        return response;
    }

    private static Wire.ResponseOp ToProto(Mvcc.ResponseOp op, Wire.ResponseHeader header)
    {
        switch (op)
        {
            case Mvcc.RangeResponseOp range:
                return new Wire.ResponseOp { ResponseRange = range.Response.ToProto(header) };
            case Mvcc.PutResponseOp put:
                var p = new Wire.PutResponse { Header = header };
                if (put.PrevKv is not null)
                {
                    p.PrevKv = put.PrevKv.ToProto();
                }
                return new Wire.ResponseOp { ResponsePut = p };
            case Mvcc.DeleteRangeResponseOp del:
                var d = new Wire.DeleteRangeResponse { Header = header, Deleted = del.Deleted };
                foreach (var kv in del.PrevKvs)
                {
                    d.PrevKvs.Add(kv.ToProto());
                }
                return new Wire.ResponseOp { ResponseDeleteRange = d };
            case Mvcc.TxnResponseOp txn:
                return new Wire.ResponseOp { ResponseTxn = txn.Response.ToProto(header) };
            default:
                throw new ArgumentException($"unknown response op {op.GetType().Name}", nameof(op));
        }
    }

    public static Wire.Member ToProto(this Conclave.Server.StateMachine.Member m)
    {
        var member = new Wire.Member { ID = m.Id, Name = m.Name, IsLearner = m.IsLearner };
        member.PeerURLs.AddRange(m.PeerUrls);
        member.ClientURLs.AddRange(m.ClientUrls);
        return member;
    }
}
