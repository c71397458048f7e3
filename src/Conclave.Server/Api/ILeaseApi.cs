namespace Conclave.Server.Api;

/// <summary>What TimeToLive reports: granted TTL, seconds left (-1 if expired or unknown), attached keys when asked.</summary>
public sealed record LeaseInfo(long LeaseId, long GrantedTtlSeconds, long RemainingTtlSeconds, IReadOnlyList<ReadOnlyMemory<byte>> Keys);

/// <summary>
/// Leases: the one liveness primitive (etcd leases, ZooKeeper sessions, Consul sessions). Grant
/// and revoke go through the log; keep-alive and time-to-live are answered by the leader, which
/// alone keeps the clock of every lease (a follower forwards them). Expiry is decided by the
/// leader and applied as a revoke, so every member deletes the same keys at the same revision.
/// </summary>
public interface ILeaseApi
{
    /// <summary><paramref name="leaseId"/> 0 = the member chooses a fresh id.</summary>
    Task<ServerResult<StateMachine.LeaseGranted>> GrantAsync(long leaseId, long ttlSeconds, CancellationToken ct);

    Task<ServerResult<StateMachine.LeaseRevoked>> RevokeAsync(long leaseId, CancellationToken ct);

    /// <summary>Renews the lease to its full TTL; the value is that TTL in seconds. LeaseNotFound when it is gone.</summary>
    Task<ServerResult<long>> KeepAliveAsync(long leaseId, CancellationToken ct);

    Task<ServerResult<LeaseInfo>> TimeToLiveAsync(long leaseId, bool keys, CancellationToken ct);

    Task<ServerResult<IReadOnlyList<long>>> LeasesAsync(CancellationToken ct);
}
