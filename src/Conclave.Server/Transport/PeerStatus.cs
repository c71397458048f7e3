namespace Conclave.Server.Transport;

/// <summary>
/// A change in the reachability of <paramref name="Peer"/>. For <see cref="PeerState.Unreachable"/>,
/// <paramref name="Reason"/> says why and <paramref name="RetryIn"/> when the next attempt is made
/// (zero if none is scheduled, e.g. the in-memory transport or a removed peer).
/// </summary>
public readonly record struct PeerStatus(ulong Peer, PeerState State, PeerDownReason Reason, TimeSpan RetryIn);

public enum PeerState
{
    Connected,
    Unreachable,
}

public enum PeerDownReason
{
    /// <summary>Used with <see cref="PeerState.Connected"/>.</summary>
    None,

    /// <summary>The TCP connect failed or timed out.</summary>
    ConnectFailed,

    /// <summary>An established connection was closed or failed.</summary>
    ConnectionLost,

    /// <summary>The peer answered the handshake with a refusal (other cluster, unsupported version, other member id).</summary>
    HandshakeRefused,

    /// <summary>The peer's handshake answer was malformed or did not come in time.</summary>
    HandshakeFailed,

    /// <summary>A fault-injecting transport blocks the link (partition).</summary>
    Partitioned,
}
