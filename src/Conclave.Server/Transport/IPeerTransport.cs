using System.Net;
using System.Threading.Channels;

namespace Conclave.Server.Transport;

/// <summary>
/// Carries opaque frames (encoded Raft messages) between the members of one cluster, addressed by
/// member id. The transport never looks inside a frame; the raft driver plugs the codec in.
/// </summary>
/// <remarks>
/// Delivery is best effort, as Raft expects of its network: a frame arrives once or not at all (a full
/// queue, a lost connection or a partition drops it). Frames to one peer arrive in the order they were
/// sent while one connection lasts; across a reconnect a late frame of the old connection may still be
/// delivered after an early one of the new (Raft tolerates reordering). Frames to different peers are
/// independent. Large transfers (snapshots) take
/// a separate path, <see cref="SendTransferAsync"/>, so they never hold up heartbeats.
/// A transport is started once and stopped once; it cannot be restarted (create a new one).
/// </remarks>
public interface IPeerTransport : IAsyncDisposable
{
    /// <summary>The member id of this side; frames it sends carry it as their sender.</summary>
    ulong LocalId { get; }

    /// <summary>
    /// The frame limit in bytes: <see cref="Send"/> refuses a payload longer than this minus one (the
    /// transport's kind byte), and a peer may send nothing bigger. <see cref="int.MaxValue"/> = no limit.
    /// </summary>
    int MaxFrameBytes { get; }

    /// <summary>
    /// Frames received from peers, in per-peer order. The payload arrays belong to the reader.
    /// The channel completes after <see cref="StopAsync"/>. A reader that falls behind pushes back
    /// on the senders (their queues fill and drop), never grows memory without bound.
    /// </summary>
    ChannelReader<InboundFrame> Inbound { get; }

    /// <summary>
    /// Reachability changes of peers: <see cref="PeerState.Connected"/> when a connection is up,
    /// <see cref="PeerState.Unreachable"/> after each failed attempt or lost connection (the raft
    /// driver feeds these to <c>ReportUnreachable</c>). Bounded: if nobody reads, the oldest
    /// entries are dropped.
    /// </summary>
    ChannelReader<PeerStatus> Status { get; }

    /// <summary>Large transfers (snapshots) arriving from peers; see <see cref="InboundTransfer"/>.</summary>
    ChannelReader<InboundTransfer> InboundTransfers { get; }

    Task StartAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Closes every connection and waits for every task the transport started; frames still
    /// queued are dropped. Idempotent.
    /// </summary>
    Task StopAsync();

    /// <summary>
    /// Replaces the set of peers (a membership change). New ids start connecting, removed ids are
    /// disconnected and their queued frames dropped, an id whose address changed reconnects to the
    /// new address. The local id, if present, is ignored. Transports that need no address (the
    /// in-memory one) use only the keys.
    /// </summary>
    void UpdatePeers(IReadOnlyDictionary<ulong, EndPoint> peers);

    /// <summary>
    /// Queues a frame for <paramref name="to"/> and returns at once; never blocks. The transport
    /// keeps and reads <paramref name="frame"/> after this returns: the caller must not change or
    /// reuse its memory.
    /// </summary>
    SendResult Send(ulong to, ReadOnlyMemory<byte> frame);

    /// <summary>
    /// Streams <paramref name="content"/> (read to its end) to <paramref name="to"/> without using
    /// the connection that carries <see cref="Send"/>'s frames. Completes when the receiving side
    /// has read all of it, or with the reason it could not.
    /// </summary>
    Task<TransferResult> SendTransferAsync(ulong to, Stream content, CancellationToken cancellationToken = default);
}
