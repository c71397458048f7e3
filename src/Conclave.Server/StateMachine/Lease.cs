namespace Conclave.Server.StateMachine;

/// <summary>
/// The replicated part of a lease: its granted TTL and the remaining TTL the leader last
/// checkpointed (0 = never checkpointed: the full TTL). Expiry instants are not replicated — only
/// the leader keeps a clock for them, and expiry is applied as a revoke command.
/// </summary>
public sealed record Lease(long Id, long TtlSeconds, long RemainingTtlSeconds)
{
    /// <summary>The TTL a new leader starts this lease's countdown from.</summary>
    public long EffectiveRemainingSeconds => RemainingTtlSeconds > 0 ? RemainingTtlSeconds : TtlSeconds;
}
