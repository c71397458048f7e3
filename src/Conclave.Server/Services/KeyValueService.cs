using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Services;

/// <summary><see cref="IKeyValueApi"/> on one member: writes through the log, reads from the applied store.</summary>
internal sealed class KeyValueService(ConclaveMember member) : IKeyValueApi
{
    public async Task<ServerResult<RangeResult>> RangeAsync(RangeRequest request, bool serializable, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (member.LocalReadRefusal is { } refused)
        {
            return new(refused, member.Header(), null);
        }
        if (!serializable)
        {
            var status = await member.ReadIndexAsync(ct);
            if (status != ServerStatus.Ok)
            {
                return new(status, member.Header(), null);
            }
        }
        var r = member.StateMachine.Store.Range(request);
        return new(FromMvcc(r.Status), member.Header(r.Revision), r);
    }

    public Task<ServerResult<PutApplied>> PutAsync(PutRequest request, CancellationToken ct) =>
        ProposeAsync<PutApplied>(member, new PutCommand(request), ct);

    public Task<ServerResult<DeleteRangeApplied>> DeleteRangeAsync(DeleteRangeRequest request, CancellationToken ct) =>
        ProposeAsync<DeleteRangeApplied>(member, new DeleteRangeCommand(request), ct);

    public async Task<ServerResult<TxnApplied>> TxnAsync(TxnRequest request, bool serializable, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!IsReadOnly(request))
        {
            return await ProposeAsync<TxnApplied>(member, new TxnCommand(request), ct);
        }
        if (member.LocalReadRefusal is { } refused)
        {
            return new(refused, member.Header(), null);
        }
        // A txn of ranges only is a read: no log entry. It runs on the loop, the store's one writer,
        // because the store evaluates a txn inside a write transaction (that commits nothing here).
        if (!serializable)
        {
            var status = await member.ReadIndexAsync(ct);
            if (status != ServerStatus.Ok)
            {
                return new(status, member.Header(), null);
            }
        }
        var r = await member.InvokeAsync(() => member.StateMachine.Store.Txn(request));
        var applied = new TxnApplied(ApplyStatusMapping.FromMvcc(r.Status), r.Revision, r.Succeeded, r.Responses);
        return new((ServerStatus)applied.Status, member.Header(r.Revision), applied);
    }

    public async Task<ServerResult<CompactApplied>> CompactAsync(long revision, bool physical, CancellationToken ct)
    {
        var r = await ProposeAsync<CompactApplied>(member, new CompactCommand(revision), ct);
        if (r.IsOk && physical)
        {
            await member.InvokeAsync(() =>
            {
                member.StateMachine.Store.FinishCompaction();
                return true;
            });
        }
        return r;
    }

    internal static bool IsReadOnly(TxnRequest request) =>
        request.Success.Concat(request.Failure).All(op => op is RangeOp || (op is TxnOp t && IsReadOnly(t.Request)));

    internal static ServerStatus FromMvcc(MvccStatus status) => (ServerStatus)ApplyStatusMapping.FromMvcc(status);

    /// <summary>Proposes and maps the outcome: the apply result's status, or the member's own failure.</summary>
    internal static async Task<ServerResult<T>> ProposeAsync<T>(ConclaveMember member, Command command, CancellationToken ct)
        where T : ApplyResult
    {
        var (status, result) = await member.ProposeAsync(command, ct);
        if (result is null)
        {
            return new(status, member.Header(), null);
        }
        return new((ServerStatus)result.Status, member.Header(result.Revision), result as T);
    }
}
