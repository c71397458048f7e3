using System.Runtime.CompilerServices;
using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Services;

/// <summary><see cref="IMaintenanceApi"/> on one member.</summary>
internal sealed class MaintenanceService(ConclaveMember member) : IMaintenanceApi
{
    private const int SnapshotChunkBytes = 64 * 1024;

    public async Task<ServerResult<MemberStatus>> StatusAsync(CancellationToken ct)
    {
        var raft = await member.RaftStatusAsync().WaitAsync(ct);
        var store = member.StateMachine.Store;
        var errors = member.StateMachine.Alarms
            .Select(a => $"memberID:{a.Member} alarm:{(a.Alarm == AlarmType.NoSpace ? "NOSPACE" : a.Alarm == AlarmType.Corrupt ? "CORRUPT" : "NONE")} ")
            .ToList();
        var status = new MemberStatus(
            ConclaveMember.EtcdVersion,
            store.UsedBytes,
            store.UsedBytes,
            raft.Lead,
            raft.Commit,
            raft.Term,
            raft.Applied,
            raft.ConfState.Learners.Contains(member.MemberId),
            errors);
        return new(ServerStatus.Ok, member.Header(), status);
    }

    public async Task<ServerResult<IReadOnlyList<(ulong MemberId, AlarmType Alarm)>>> AlarmAsync(AlarmAction? action, ulong memberId, AlarmType alarm, CancellationToken ct)
    {
        if (action is { } a)
        {
            var (status, _) = await member.ProposeAsync(new AlarmCommand(a, memberId, alarm), ct);
            if (status != ServerStatus.Ok)
            {
                return new(status, member.Header(), null);
            }
        }
        IReadOnlyList<(ulong, AlarmType)> alarms = member.StateMachine.Alarms
            .Where(x => action is not null || alarm == AlarmType.None || x.Alarm == alarm)
            .OrderBy(x => x.Member).ThenBy(x => x.Alarm)
            .ToList();
        return new(ServerStatus.Ok, member.Header(), alarms);
    }

    public Task<ServerResult<HashKVResult>> HashKVAsync(long revision, CancellationToken ct)
    {
        var r = member.StateMachine.Store.HashKV(revision);
        return Task.FromResult(new ServerResult<HashKVResult>(KeyValueService.FromMvcc(r.Status), member.Header(r.Revision), r));
    }

    /// <summary>The state machine image (the same bytes a raft snapshot holds), taken on the loop so that it is consistent.</summary>
    public async IAsyncEnumerable<ReadOnlyMemory<byte>> SnapshotAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var image = await member.InvokeAsync(() =>
        {
            using var ms = new MemoryStream();
            member.StateMachine.WriteSnapshot(ms);
            return ms.ToArray();
        }).WaitAsync(ct);
        for (var at = 0; at < image.Length; at += SnapshotChunkBytes)
        {
            ct.ThrowIfCancellationRequested();
            yield return image.AsMemory(at, Math.Min(SnapshotChunkBytes, image.Length - at));
        }
    }

    public Task<ServerResult<bool>> DefragmentAsync(CancellationToken ct) =>
        Task.FromResult(new ServerResult<bool>(ServerStatus.Ok, member.Header(), true));

    public async Task<ServerResult<bool>> MoveLeaderAsync(ulong targetMemberId, CancellationToken ct)
    {
        var raft = await member.RaftStatusAsync().WaitAsync(ct);
        if (raft.Role != Raft.RaftRole.Leader)
        {
            return new(ServerStatus.NotLeader, member.Header(), false);
        }
        if (!raft.ConfState.Voters.Contains(targetMemberId))
        {
            return new(ServerStatus.BadLeaderTransferee, member.Header(), false);
        }
        if (targetMemberId == member.MemberId)
        {
            return new(ServerStatus.Ok, member.Header(), true);
        }
        member.RequestLeaderTransfer(targetMemberId);
        var moved = await member.WaitForLeaderAsync(targetMemberId, ct);
        return new(moved ? ServerStatus.Ok : ServerStatus.Timeout, member.Header(), moved);
    }
}
