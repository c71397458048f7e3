using System.Net;
using System.Threading.Channels;

namespace Conclave.Server.Transport;

/// <summary>
/// A transport that hands frames to other members of the same <see cref="InMemoryTransportHub"/>,
/// subject to the hub's faults. Created by <see cref="InMemoryTransportHub.CreateTransport"/>.
/// A frame that reaches a full inbound queue is dropped and <see cref="SendResult.QueueFull"/> returned
/// (when there is no delay); a frame lost to a fault still returns <see cref="SendResult.Queued"/>, as a
/// real network would. Reachability is reported on the first send after it changes.
/// Transfers are copied whole and delivered at once (drop rate and delay do not apply; partitions do).
/// </summary>
public sealed class InMemoryPeerTransport : IPeerTransport
{
    private readonly InMemoryTransportHub _hub;
    private readonly Channel<InboundFrame> _inbound;
    private readonly Channel<PeerStatus> _status = Channel.CreateBounded<PeerStatus>(
        new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly Channel<InboundTransfer> _transfers = Channel.CreateUnbounded<InboundTransfer>();
    private readonly Dictionary<ulong, PeerState> _reachability = [];
    private volatile HashSet<ulong> _peers = [];
    private volatile bool _running;
    private bool _stopped;

    internal InMemoryPeerTransport(InMemoryTransportHub hub, ulong localId, int inboundCapacity)
    {
        _hub = hub;
        LocalId = localId;
        _inbound = Channel.CreateBounded<InboundFrame>(new BoundedChannelOptions(inboundCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public ulong LocalId { get; }

    /// <summary>Frames are handed over in memory: no limit.</summary>
    public int MaxFrameBytes => int.MaxValue;

    public ChannelReader<InboundFrame> Inbound => _inbound.Reader;

    public ChannelReader<PeerStatus> Status => _status.Reader;

    public ChannelReader<InboundTransfer> InboundTransfers => _transfers.Reader;

    internal bool IsRunning => _running;

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_stopped || _running)
        {
            throw new InvalidOperationException("transport: a transport can be started only once");
        }

        _running = true;
        return Task.CompletedTask;
    }

    public Task StopAsync()
    {
        _running = false;
        _stopped = true;
        _inbound.Writer.TryComplete();
        _status.Writer.TryComplete();
        _transfers.Writer.TryComplete();
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    /// <summary>Only the keys matter; addresses are ignored.</summary>
    public void UpdatePeers(IReadOnlyDictionary<ulong, EndPoint> peers)
    {
        var ids = peers.Keys.Where(id => id != LocalId).ToHashSet();
        _peers = ids;
    }

    /// <summary>Convenience for tests: the peers by id alone.</summary>
    public void UpdatePeers(IEnumerable<ulong> peers) =>
        UpdatePeers(peers.ToDictionary(id => id, EndPoint (_) => new DnsEndPoint("in-memory", 0)));

    public SendResult Send(ulong to, ReadOnlyMemory<byte> frame)
    {
        if (!_running)
        {
            return SendResult.Stopped;
        }

        if (!_peers.Contains(to))
        {
            return SendResult.UnknownPeer;
        }

        return _hub.Route(LocalId, to, frame);
    }

    public async Task<TransferResult> SendTransferAsync(ulong to, Stream content, CancellationToken cancellationToken = default)
    {
        if (!_running)
        {
            return new TransferResult(TransferStatus.Stopped, 0);
        }

        if (!_peers.Contains(to))
        {
            return new TransferResult(TransferStatus.UnknownPeer, 0);
        }

        var copy = new MemoryStream();
        await content.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
        copy.Position = 0;
        var receiver = _hub.TransferTarget(LocalId, to);
        if (receiver is null || !receiver._transfers.Writer.TryWrite(new InboundTransfer(LocalId, copy)))
        {
            return new TransferResult(TransferStatus.Unreachable, 0);
        }

        return new TransferResult(TransferStatus.Delivered, copy.Length);
    }

    internal bool TryDeliver(InboundFrame frame) => _running && _inbound.Writer.TryWrite(frame);

    /// <summary>Called by the hub under its lock; publishes only changes.</summary>
    internal void SetReachability(ulong peer, PeerState state, PeerDownReason reason)
    {
        if (_reachability.TryGetValue(peer, out var previous) && previous == state)
        {
            return;
        }

        _reachability[peer] = state;
        _status.Writer.TryWrite(new PeerStatus(peer, state, reason, TimeSpan.Zero));
    }
}
