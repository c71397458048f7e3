using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Api;

/// <summary>
/// etcd's KV service as the member offers it to every front end. Writes go through the log
/// (a follower's proposals are forwarded to the leader by the consensus core); reads are
/// linearizable (ReadIndex, no log write) unless <c>serializable</c> is set, in which case this
/// member's applied state answers at once.
/// </summary>
public interface IKeyValueApi
{
    Task<ServerResult<RangeResult>> RangeAsync(RangeRequest request, bool serializable, CancellationToken ct);

    Task<ServerResult<PutApplied>> PutAsync(PutRequest request, CancellationToken ct);

    Task<ServerResult<DeleteRangeApplied>> DeleteRangeAsync(DeleteRangeRequest request, CancellationToken ct);

    /// <summary>A txn whose ops are all ranges is served as a read (no log entry), as etcd does.</summary>
    Task<ServerResult<TxnApplied>> TxnAsync(TxnRequest request, bool serializable, CancellationToken ct);

    /// <summary><paramref name="physical"/>: return only once the compaction has been applied (etcd waits for it too).</summary>
    Task<ServerResult<CompactApplied>> CompactAsync(long revision, bool physical, CancellationToken ct);
}
