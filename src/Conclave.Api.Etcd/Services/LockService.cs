using Conclave.Api.Etcd.Protocol.V3LockPb;
using Google.Protobuf;
using Grpc.Core;

namespace Conclave.Api.Etcd.Services;

/// <summary>
/// etcd's v3lock service, built like etcd's own: the caller's lease owns the key
/// <c>name/hex(lease)</c>; the lock is held when no key under <c>name/</c> was created before it.
/// </summary>
public sealed class LockService(IEtcdMember member) : Protocol.V3LockPb.Lock.LockBase
{
    /// <summary>etcd's concurrency.ErrSessionExpired: the key vanished (its lease expired) while waiting.</summary>
    internal static readonly EtcdError SessionExpired = new(StatusCode.Unknown, "session expired");

    private readonly Recipes _recipes = new(member);

    public override async Task<LockResponse> Lock(LockRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var prefix = Recipes.Prefix(request.Name.Span);
        var key = Recipes.CandidateKey(prefix, request.Lease);
        var (result, myRevision, _, owner) = await _recipes.EnqueueAsync(prefix, key, ReadOnlyMemory<byte>.Empty, request.Lease, ct).ConfigureAwait(false);
        var header = result.Header;
        if (owner is not null && owner.CreateRevision != myRevision)
        {
            try
            {
                await _recipes.WaitDeletesAsync(prefix, myRevision - 1, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await _recipes.AbandonAsync(key).ConfigureAwait(false);
                throw;
            }
            var mine = await member.KeyValue.RangeAsync(Conclave.Storage.Mvcc.RangeRequest.Single(key), serializable: false, ct).ConfigureAwait(false);
            if (mine.Unwrap().Kvs.Count == 0)
            {
                throw SessionExpired.ToRpcException();
            }
            header = mine.Header;
        }
        return new LockResponse { Header = header.ToProto(), Key = ByteString.CopyFrom(key) };
    }

    public override async Task<UnlockResponse> Unlock(UnlockRequest request, ServerCallContext context)
    {
        var result = await _recipes.DeleteAsync(request.Key.Memory, context.CancellationToken).ConfigureAwait(false);
        return new UnlockResponse { Header = result.Header.ToProto() };
    }
}
