using Conclave.Api.Etcd.Protocol;
using Grpc.Core;

namespace Conclave.Api.Etcd.Services;

/// <summary>etcd's KV service: validate as etcd does, call the member, map the outcome through <see cref="EtcdErrorMap"/>.</summary>
public sealed class KvService(IEtcdMember member, EtcdLimits limits) : KV.KVBase
{
    public override Task<RangeResponse> Range(RangeRequest request, ServerCallContext context) =>
        RangeAsync(request, context.CancellationToken);

    public override Task<PutResponse> Put(PutRequest request, ServerCallContext context) =>
        PutAsync(request, context.CancellationToken);

    public override Task<DeleteRangeResponse> DeleteRange(DeleteRangeRequest request, ServerCallContext context) =>
        DeleteRangeAsync(request, context.CancellationToken);

    public override Task<TxnResponse> Txn(TxnRequest request, ServerCallContext context) =>
        TxnAsync(request, context.CancellationToken);

    public override Task<CompactionResponse> Compact(CompactionRequest request, ServerCallContext context) =>
        CompactAsync(request, context.CancellationToken);

    public async Task<RangeResponse> RangeAsync(RangeRequest request, CancellationToken ct)
    {
        Refuse(RequestValidation.CheckRange(request));
        var result = await member.KeyValue.RangeAsync(request.ToServer(), request.Serializable, ct).ConfigureAwait(false);
        var range = result.Unwrap();
        return range.ToProto(result.Header.ToProto());
    }

    public async Task<PutResponse> PutAsync(PutRequest request, CancellationToken ct)
    {
        Refuse(RequestValidation.CheckPut(request));
        var result = await member.KeyValue.PutAsync(request.ToServer(), ct).ConfigureAwait(false);
        var applied = result.UnwrapApplied();
        var response = new PutResponse { Header = result.Header.ToProto() };
        if (request.PrevKv && applied.PrevKv is not null)
        {
            response.PrevKv = applied.PrevKv.ToProto();
        }
        return response;
    }

    public async Task<DeleteRangeResponse> DeleteRangeAsync(DeleteRangeRequest request, CancellationToken ct)
    {
        Refuse(RequestValidation.CheckDeleteRange(request));
        var result = await member.KeyValue.DeleteRangeAsync(request.ToServer(), ct).ConfigureAwait(false);
        var applied = result.UnwrapApplied();
        var response = new DeleteRangeResponse { Header = result.Header.ToProto(), Deleted = applied.Deleted };
        if (request.PrevKv)
        {
            foreach (var kv in applied.PrevKvs)
            {
                response.PrevKvs.Add(kv.ToProto());
            }
        }
        return response;
    }

    public async Task<TxnResponse> TxnAsync(TxnRequest request, CancellationToken ct)
    {
        Refuse(RequestValidation.CheckTxn(request, limits.MaxTxnOps));
        var result = await member.KeyValue.TxnAsync(request.ToServer(), IsSerializableRead(request), ct).ConfigureAwait(false);
        var applied = result.UnwrapApplied();
        return ProtoConversions.ToProto(applied.Succeeded, applied.Responses, result.Header.ToProto());
    }

    public async Task<CompactionResponse> CompactAsync(CompactionRequest request, CancellationToken ct)
    {
        var result = await member.KeyValue.CompactAsync(request.Revision, request.Physical, ct).ConfigureAwait(false);
        result.UnwrapApplied();
        return new CompactionResponse { Header = result.Header.ToProto() };
    }

    /// <summary>etcd serves a txn of serializable ranges only (at every level) from local state.</summary>
    private static bool IsSerializableRead(TxnRequest r) =>
        r.Success.Concat(r.Failure).All(op => op.RequestCase switch
        {
            RequestOp.RequestOneofCase.RequestRange => op.RequestRange.Serializable,
            RequestOp.RequestOneofCase.RequestTxn => IsSerializableRead(op.RequestTxn),
            _ => false,
        }) && (r.Success.Count > 0 || r.Failure.Count > 0);

    internal static void Refuse(EtcdError? error)
    {
        if (error is not null)
        {
            throw error.ToRpcException();
        }
    }
}
