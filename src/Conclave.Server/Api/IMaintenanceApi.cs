using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Api;

/// <summary>What Status reports about this member (etcd StatusResponse).</summary>
public sealed record MemberStatus(
    string Version,
    long DbSize,
    long DbSizeInUse,
    ulong Leader,
    ulong RaftIndex,
    ulong RaftTerm,
    ulong RaftAppliedIndex,
    bool IsLearner,
    IReadOnlyList<string> Errors);

/// <summary>etcd's Maintenance service.</summary>
public interface IMaintenanceApi
{
    Task<ServerResult<MemberStatus>> StatusAsync(CancellationToken ct);

    /// <summary>Action Get lists alarms; Activate/Deactivate go through the log. The value is the alarm list after the call.</summary>
    Task<ServerResult<IReadOnlyList<(ulong MemberId, AlarmType Alarm)>>> AlarmAsync(AlarmAction? action, ulong memberId, AlarmType alarm, CancellationToken ct);

    Task<ServerResult<HashKVResult>> HashKVAsync(long revision, CancellationToken ct);

    /// <summary>A consistent image of the state, streamed in chunks (etcd Snapshot: the caller writes it to a file).</summary>
    IAsyncEnumerable<ReadOnlyMemory<byte>> SnapshotAsync(CancellationToken ct);

    /// <summary>Nothing to defragment in memory: succeeds at once (kept for etcd clients).</summary>
    Task<ServerResult<bool>> DefragmentAsync(CancellationToken ct);

    /// <summary>Transfers leadership to <paramref name="targetMemberId"/>; only the leader accepts it.</summary>
    Task<ServerResult<bool>> MoveLeaderAsync(ulong targetMemberId, CancellationToken ct);
}
