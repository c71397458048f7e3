using Conclave.Server.StateMachine;

namespace Conclave.Server.Api;

/// <summary>etcd's Cluster service: membership changes go through the log as configuration changes.</summary>
public interface IClusterApi
{
    /// <summary><paramref name="linearizable"/>: confirm with the leader first (etcd 3.5's MemberList option).</summary>
    Task<ServerResult<IReadOnlyList<Member>>> MemberListAsync(bool linearizable, CancellationToken ct);

    /// <summary>Adds a member (id derived from its peer URLs and the cluster); the value is the new member.</summary>
    Task<ServerResult<Member>> MemberAddAsync(IReadOnlyList<string> peerUrls, bool isLearner, CancellationToken ct);

    Task<ServerResult<IReadOnlyList<Member>>> MemberRemoveAsync(ulong memberId, CancellationToken ct);

    Task<ServerResult<IReadOnlyList<Member>>> MemberUpdateAsync(ulong memberId, IReadOnlyList<string> peerUrls, CancellationToken ct);

    /// <summary>Promotes a learner once it has caught up with the leader (else LearnerNotReady).</summary>
    Task<ServerResult<IReadOnlyList<Member>>> MemberPromoteAsync(ulong memberId, CancellationToken ct);
}
