using Conclave.Api.Etcd.Protocol.V3ElectionPb;
using Conclave.Storage.Mvcc;
using Google.Protobuf;
using Grpc.Core;
using ServerWatch = Conclave.Server.Watch;

namespace Conclave.Api.Etcd.Services;

/// <summary>
/// etcd's v3election service, built like etcd's own: a candidate is the key <c>name/hex(lease)</c>
/// holding its proposal; the leader is the candidate with the lowest create revision.
/// </summary>
public sealed class ElectionService(IEtcdMember member) : Election.ElectionBase
{
    private readonly Recipes _recipes = new(member);

    /// <summary>Waits until this candidate leads; a candidate already in line with another value proclaims the new one.</summary>
    public override async Task<CampaignResponse> Campaign(CampaignRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var prefix = Recipes.Prefix(request.Name.Span);
        var key = Recipes.CandidateKey(prefix, request.Lease);
        var (result, leaderRevision, existing, _) = await _recipes.EnqueueAsync(prefix, key, request.Value.Memory, request.Lease, ct).ConfigureAwait(false);
        var header = result.Header;
        if (existing is not null && !existing.Value.Span.SequenceEqual(request.Value.Span))
        {
            header = (await ProclaimAsync(key, leaderRevision, request.Lease, request.Value.Memory, ct).ConfigureAwait(false)).Header;
        }
        try
        {
            await _recipes.WaitDeletesAsync(prefix, leaderRevision - 1, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await _recipes.AbandonAsync(key).ConfigureAwait(false);
            throw;
        }
        return new CampaignResponse
        {
            Header = header.ToProto(),
            Leader = new LeaderKey { Name = request.Name, Key = ByteString.CopyFrom(key), Rev = leaderRevision, Lease = request.Lease },
        };
    }

    public override async Task<ProclaimResponse> Proclaim(ProclaimRequest request, ServerCallContext context)
    {
        var leader = request.Leader ?? throw EtcdErrors.ElectionMissingLeaderKey.ToRpcException();
        var result = await ProclaimAsync(leader.Key.Memory, leader.Rev, leader.Lease, request.Value.Memory, context.CancellationToken).ConfigureAwait(false);
        return new ProclaimResponse { Header = result.Header.ToProto() };
    }

    public override async Task<ResignResponse> Resign(ResignRequest request, ServerCallContext context)
    {
        var leader = request.Leader ?? throw EtcdErrors.ElectionMissingLeaderKey.ToRpcException();
        var txn = new TxnRequest
        {
            Compare = [IsCreatedAt(leader.Key.Memory, leader.Rev)],
            Success = [RequestOp.DeleteRange(new DeleteRangeRequest { Key = leader.Key.Memory })],
        };
        var result = await member.KeyValue.TxnAsync(txn, serializable: false, context.CancellationToken).ConfigureAwait(false);
        result.UnwrapApplied();
        return new ResignResponse { Header = result.Header.ToProto() };
    }

    public override async Task<LeaderResponse> Leader(LeaderRequest request, ServerCallContext context)
    {
        var prefix = Recipes.Prefix(request.Name.Span);
        var result = await member.KeyValue.RangeAsync(Recipes.FirstCreated(prefix), serializable: false, context.CancellationToken).ConfigureAwait(false);
        var range = result.Unwrap();
        if (range.Kvs.Count == 0)
        {
            throw EtcdErrors.ElectionNoLeader.ToRpcException();
        }
        return new LeaderResponse { Header = result.Header.ToProto(), Kv = range.Kvs[0].ToProto() };
    }

    /// <summary>
    /// Streams the leader's kv each time the leader or its proclaimed value changes, starting with the
    /// current one (after the first candidate appears, when there is none).
    /// </summary>
    public override async Task Observe(LeaderRequest request, IServerStreamWriter<LeaderResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var prefix = Recipes.Prefix(request.Name.Span);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var result = await member.KeyValue.RangeAsync(Recipes.FirstCreated(prefix), serializable: false, ct).ConfigureAwait(false);
                var range = result.Unwrap();
                KeyValue? leader = range.Kvs.Count > 0 ? range.Kvs[0] : null;
                var header = result.Header;
                using var stream = member.OpenWatchStream();
                if (leader is null)
                {
                    // Wait for the first candidate: the first put under the prefix after this read.
                    stream.Create(new ServerWatch.WatchCreateRequest
                    {
                        Key = prefix,
                        RangeEnd = KeyRange.PrefixEnd(prefix),
                        StartRevision = header.Revision + 1,
                        Filters = ServerWatch.WatchFilters.NoDelete,
                    });
                    leader = await FirstEventAsync(stream, ct).ConfigureAwait(false);
                    if (leader is null)
                    {
                        continue;
                    }
                    header = header with { Revision = leader.ModRevision };
                }
                await responseStream.WriteAsync(new LeaderResponse { Header = header.ToProto(), Kv = leader.ToProto() }, ct).ConfigureAwait(false);
                await FollowLeaderAsync(leader, responseStream, header, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Sends the leader's new values until its key is deleted (or the watch ends).</summary>
    private async Task FollowLeaderAsync(KeyValue leader, IServerStreamWriter<LeaderResponse> writer, Conclave.Server.Api.ResponseHeader header, CancellationToken ct)
    {
        using var stream = member.OpenWatchStream();
        stream.Create(new ServerWatch.WatchCreateRequest { Key = leader.Key, StartRevision = leader.ModRevision + 1 });
        await foreach (var response in stream.Responses.ReadAllAsync(ct).ConfigureAwait(false))
        {
            if (response.Canceled)
            {
                return;
            }
            foreach (var ev in response.Events)
            {
                if (ev.Type == EventType.Delete)
                {
                    return;
                }
                var h = header with { Revision = response.Revision };
                await writer.WriteAsync(new LeaderResponse { Header = h.ToProto(), Kv = ev.Kv.ToProto() }, ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task<KeyValue?> FirstEventAsync(ServerWatch.WatchStream stream, CancellationToken ct)
    {
        await foreach (var response in stream.Responses.ReadAllAsync(ct).ConfigureAwait(false))
        {
            if (response.Canceled)
            {
                return null;
            }
            if (response.Events.Count > 0)
            {
                return response.Events[0].Kv;
            }
        }
        return null;
    }

    private async Task<Conclave.Server.Api.ServerResult<Conclave.Server.StateMachine.TxnApplied>> ProclaimAsync(
        ReadOnlyMemory<byte> key, long revision, long lease, ReadOnlyMemory<byte> value, CancellationToken ct)
    {
        var txn = new TxnRequest
        {
            Compare = [IsCreatedAt(key, revision)],
            Success = [RequestOp.Put(new PutRequest { Key = key, Value = value, Lease = lease })],
        };
        var result = await member.KeyValue.TxnAsync(txn, serializable: false, ct).ConfigureAwait(false);
        if (!result.UnwrapApplied().Succeeded)
        {
            throw EtcdErrors.ElectionNotLeader.ToRpcException();
        }
        return result;
    }

    private static Compare IsCreatedAt(ReadOnlyMemory<byte> key, long revision) =>
        new() { Key = key, Target = CompareTarget.Create, Result = CompareResult.Equal, Number = revision };
}
