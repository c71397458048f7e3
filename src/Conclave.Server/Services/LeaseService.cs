using Conclave.Server.Api;
using Conclave.Server.StateMachine;

namespace Conclave.Server.Services;

/// <summary>
/// <see cref="ILeaseApi"/> on one member. Grant and revoke go through the log. Keep-alive and
/// time-to-live need the leader's clock: the leader answers itself; a follower forwards them to the
/// leader as a non-raft frame (docs/server.md) and answers NoLeader when none is known, Timeout when
/// the leader does not answer in time.
/// </summary>
internal sealed class LeaseService(ConclaveMember member) : ILeaseApi
{
    public async Task<ServerResult<LeaseGranted>> GrantAsync(long leaseId, long ttlSeconds, CancellationToken ct)
    {
        if (leaseId < 0)
        {
            return new(ServerStatus.InvalidLeaseId, member.Header(), null);
        }
        var id = leaseId == 0 ? (long)member.NextLeaseId() : leaseId;
        return await KeyValueService.ProposeAsync<LeaseGranted>(member, new LeaseGrantCommand(id, ttlSeconds), ct);
    }

    public Task<ServerResult<LeaseRevoked>> RevokeAsync(long leaseId, CancellationToken ct) =>
        KeyValueService.ProposeAsync<LeaseRevoked>(member, new LeaseRevokeCommand(leaseId), ct);

    public async Task<ServerResult<long>> KeepAliveAsync(long leaseId, CancellationToken ct)
    {
        var (status, granted, _) = await AskLeaderAsync(PeerFrames.OpKeepAlive, leaseId, ct);
        return new(status, member.Header(), status == ServerStatus.Ok ? granted : 0);
    }

    public async Task<ServerResult<LeaseInfo>> TimeToLiveAsync(long leaseId, bool keys, CancellationToken ct)
    {
        var (status, granted, remaining) = await AskLeaderAsync(PeerFrames.OpTimeToLive, leaseId, ct);
        if (status != ServerStatus.Ok)
        {
            return new(status, member.Header(), null);
        }
        IReadOnlyList<ReadOnlyMemory<byte>> attached = keys ? member.StateMachine.Store.KeysWithLease(leaseId) : [];
        return new(ServerStatus.Ok, member.Header(), new LeaseInfo(leaseId, granted, remaining, attached));
    }

    public Task<ServerResult<IReadOnlyList<long>>> LeasesAsync(CancellationToken ct)
    {
        IReadOnlyList<long> ids = member.StateMachine.Leases.Keys.Order().ToList();
        return Task.FromResult(new ServerResult<IReadOnlyList<long>>(ServerStatus.Ok, member.Header(), ids));
    }

    private async Task<(ServerStatus Status, long Granted, long Remaining)> AskLeaderAsync(byte op, long leaseId, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var leader = member.Leader;
            byte status;
            long granted;
            long remaining;
            if (leader == 0)
            {
                return (ServerStatus.NoLeader, 0, 0);
            }
            if (leader == member.MemberId)
            {
                (status, granted, remaining) = await member.AnswerLeaseRequestAsync(op, leaseId, ct);
            }
            else
            {
                var answer = await member.PeerRequestAsync(leader, id => PeerFrames.EncodeLeaseRequest(id, op, leaseId), ct);
                if (answer is null || !PeerFrames.TryDecodeLeaseResponse(answer, out _, out status, out granted, out remaining))
                {
                    return (ServerStatus.Timeout, 0, 0);
                }
            }
            switch (status)
            {
                case PeerFrames.StatusOk:
                    return (ServerStatus.Ok, granted, remaining);
                case PeerFrames.StatusNotFound:
                    return (ServerStatus.LeaseNotFound, 0, 0);
            }
            // Not leader (any more): the view may be stale for one turn; try once more.
        }
        return (ServerStatus.NoLeader, 0, 0);
    }
}
