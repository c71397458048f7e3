using System.Net;

namespace Conclave.Server.Transport;

/// <summary>Settings of a <see cref="TcpPeerTransport"/>. Sizes are in bytes, counts in frames.</summary>
public sealed class TcpPeerTransportOptions
{
    /// <summary>Every member of one cluster uses the same id; a connection carrying another id is refused.</summary>
    public required ulong ClusterId { get; init; }

    public required ulong LocalId { get; init; }

    /// <summary>Where to accept peer connections; port 0 picks a free port (read it back from <see cref="TcpPeerTransport.LocalEndPoint"/>).</summary>
    public IPEndPoint ListenEndPoint { get; init; } = new(IPAddress.Loopback, 0);

    /// <summary>
    /// The largest frame accepted or sent: its length prefix (kind byte + payload) may not exceed this.
    /// A bigger incoming prefix closes the connection before anything is allocated. Both sides must agree.
    /// </summary>
    public int MaxFrameBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Frames queued per peer before <see cref="IPeerTransport.Send"/> starts dropping (<see cref="SendResult.QueueFull"/>).</summary>
    public int SendQueueCapacity { get; init; } = 4096;

    /// <summary>Frames received but not yet read from <see cref="IPeerTransport.Inbound"/> before reading from the sockets pauses.</summary>
    public int InboundQueueCapacity { get; init; } = 4096;

    /// <summary>Queued frames are copied into a buffer of this size and written with one socket write; bigger frames go alone.</summary>
    public int WriteBufferBytes { get; init; } = 64 * 1024;

    /// <summary>Payload bytes per chunk frame of a large transfer (capped at <see cref="MaxFrameBytes"/> - 1).</summary>
    public int TransferChunkBytes { get; init; } = 1024 * 1024;

    /// <summary>The first reconnect delay (before jitter); it doubles after each failed attempt up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a TCP connect may take before the attempt counts as failed.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long one socket write (at most <see cref="WriteBufferBytes"/>, or one frame bigger than that) may
    /// take before the connection is considered dead and reconnected. Also bounds how long a host that vanished
    /// goes unnoticed while frames are pending.
    /// </summary>
    public TimeSpan WriteTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long either side waits for the other's handshake frame.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Seeds the reconnect jitter (mixed with the peer id, so each peer's schedule is reproducible).</summary>
    public int RandomSeed { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFrameBytes, 1024, nameof(MaxFrameBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(SendQueueCapacity, 1, nameof(SendQueueCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(InboundQueueCapacity, 1, nameof(InboundQueueCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(WriteBufferBytes, 1024, nameof(WriteBufferBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(TransferChunkBytes, 1, nameof(TransferChunkBytes));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ReconnectBaseDelay, TimeSpan.Zero, nameof(ReconnectBaseDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReconnectMaxDelay, ReconnectBaseDelay, nameof(ReconnectMaxDelay));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(WriteTimeout, TimeSpan.Zero, nameof(WriteTimeout));
    }
}
