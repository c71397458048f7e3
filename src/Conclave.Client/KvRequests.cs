using Google.Protobuf;
using Wire = Conclave.Api.Etcd.Protocol;

namespace Conclave.Client;

internal static class KvRequests
{
    public static Wire.RangeRequest Range(string key, ByteString rangeEnd, GetOptions? options)
    {
        options ??= GetOptions.Default;
        return new Wire.RangeRequest
        {
            Key = Keys.Bytes(key),
            RangeEnd = rangeEnd,
            Revision = options.Revision,
            Limit = options.Limit,
            SortOrder = (Wire.RangeRequest.Types.SortOrder)options.SortOrder,
            SortTarget = (Wire.RangeRequest.Types.SortTarget)options.SortTarget,
            KeysOnly = options.KeysOnly,
            CountOnly = options.CountOnly,
            Serializable = options.Serializable,
            MaxCreateRevision = options.MaxCreateRevision,
        };
    }

    public static Wire.PutRequest Put(string key, byte[] value, long leaseId, bool prevKv) =>
        new() { Key = Keys.Bytes(key), Value = ByteString.CopyFrom(value), Lease = leaseId, PrevKv = prevKv };

    public static GetResult ToResult(Wire.RangeResponse r) =>
        new(r.Header.Revision, r.Kvs.Select(KeyValue.From).ToList(), r.Count, r.More);

    public static PutResult ToResult(Wire.PutResponse r) =>
        new(r.Header.Revision, r.PrevKv is null ? null : KeyValue.From(r.PrevKv));

    public static DeleteResult ToResult(Wire.DeleteRangeResponse r) =>
        new(r.Header.Revision, r.Deleted, r.PrevKvs.Select(KeyValue.From).ToList());

    public static TxnResult ToResult(Wire.TxnResponse r) =>
        new(r.Succeeded, r.Header.Revision, r.Responses.Select(op => op.ResponseCase switch
        {
            Wire.ResponseOp.ResponseOneofCase.ResponseRange => (OpResult)ToResult(op.ResponseRange) with { Revision = r.Header.Revision },
            Wire.ResponseOp.ResponseOneofCase.ResponsePut => ToResult(op.ResponsePut) with { Revision = r.Header.Revision },
            Wire.ResponseOp.ResponseOneofCase.ResponseDeleteRange => ToResult(op.ResponseDeleteRange) with { Revision = r.Header.Revision },
            _ => throw new NotSupportedException($"nested transaction results are not supported ({op.ResponseCase})"),
        }).ToList());
}
