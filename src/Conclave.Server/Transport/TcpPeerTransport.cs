using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Conclave.Server.Transport;

/// <summary>
/// The peer transport over TCP. Each member dials one long-lived connection to every peer and sends its
/// frames on it; frames from a peer arrive on the connection that peer dialled (so a pair of members
/// uses two connections, one per direction, and there is no dial race to settle). Large transfers open a
/// connection of their own. The wire format, handshake and reconnect policy are in docs/transport.md.
/// </summary>
public sealed class TcpPeerTransport : IPeerTransport
{
    /// <summary>The protocol version this build speaks; a peer with another version is refused.</summary>
    public const ushort ProtocolVersion = 1;

    private const int StateNew = 0;
    private const int StateRunning = 1;
    private const int StateStopped = 2;

    private readonly Channel<InboundFrame> _inbound;
    private readonly Channel<PeerStatus> _status;
    private readonly Channel<InboundTransfer> _transfers;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, byte> _tasks = new();
    private readonly Lock _peersLock = new();
    private IReadOnlyDictionary<ulong, EndPoint> _addresses = new Dictionary<ulong, EndPoint>();
    private volatile Dictionary<ulong, TcpPeerSender> _senders = [];
    private Socket? _listener;
    private int _state;
    private Task? _stopTask;

    public TcpPeerTransport(TcpPeerTransportOptions options, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        options.Validate();
        Options = options;
        Time = timeProvider ?? TimeProvider.System;
        Logger = logger ?? NullLogger.Instance;
        _inbound = Channel.CreateBounded<InboundFrame>(new BoundedChannelOptions(options.InboundQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = false,
            SingleWriter = false,
        });
        _status = Channel.CreateBounded<PeerStatus>(new BoundedChannelOptions(1024)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
        });
        _transfers = Channel.CreateBounded<InboundTransfer>(new BoundedChannelOptions(4)
        {
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public ulong LocalId => Options.LocalId;

    public int MaxFrameBytes => Options.MaxFrameBytes;

    /// <summary>The bound listening address (with the real port when the options asked for port 0); null before start.</summary>
    public IPEndPoint? LocalEndPoint { get; private set; }

    public ChannelReader<InboundFrame> Inbound => _inbound.Reader;

    public ChannelReader<PeerStatus> Status => _status.Reader;

    public ChannelReader<InboundTransfer> InboundTransfers => _transfers.Reader;

    internal TcpPeerTransportOptions Options { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    /// <summary>Tasks the transport started that have not finished (accept loop, connections, transfers, removals).</summary>
    internal int RunningTasks => _tasks.Keys.Count(t => !t.IsCompleted);

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, StateRunning, StateNew) != StateNew)
        {
            throw new InvalidOperationException("transport: a transport can be started only once");
        }

        var listener = new Socket(Options.ListenEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A restarted member must be able to bind its port while old connections sit in TIME_WAIT.
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(Options.ListenEndPoint);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            Volatile.Write(ref _state, StateStopped);
            throw;
        }

        _listener = listener;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        Logger.Listening(LocalId, LocalEndPoint);
        var token = _stopping.Token;
        Track(Task.Run(() => AcceptLoopAsync(listener, token), CancellationToken.None));
        lock (_peersLock)
        {
            ApplyPeers(_addresses);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync()
    {
        lock (_peersLock)
        {
            _stopTask ??= StopCoreAsync();
            return _stopTask;
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    public void UpdatePeers(IReadOnlyDictionary<ulong, EndPoint> peers)
    {
        lock (_peersLock)
        {
            _addresses = new Dictionary<ulong, EndPoint>(peers);
            if (Volatile.Read(ref _state) == StateRunning)
            {
                ApplyPeers(_addresses);
            }
        }
    }

    public SendResult Send(ulong to, ReadOnlyMemory<byte> frame)
    {
        if (Volatile.Read(ref _state) != StateRunning)
        {
            return SendResult.Stopped;
        }

        if (frame.Length > Options.MaxFrameBytes - 1)
        {
            return SendResult.TooLarge;
        }

        return _senders.TryGetValue(to, out var sender) ? sender.TryEnqueue(frame) : SendResult.UnknownPeer;
    }

    /// <summary>Counters of the outbound queue to <paramref name="peer"/> (still readable after stop), or null if it is not a peer.</summary>
    public PeerSendStats? GetSendStats(ulong peer) => _senders.TryGetValue(peer, out var sender) ? sender.Stats : null;

    public Task<TransferResult> SendTransferAsync(ulong to, Stream content, CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _state) != StateRunning)
        {
            return Task.FromResult(new TransferResult(TransferStatus.Stopped, 0));
        }

        if (!_senders.TryGetValue(to, out var sender))
        {
            return Task.FromResult(new TransferResult(TransferStatus.UnknownPeer, 0));
        }

        var task = SendTransferCoreAsync(to, sender.EndPoint, content, cancellationToken);
        Track(task);
        return task;
    }

    internal void Publish(PeerStatus status) => _status.Writer.TryWrite(status);

    /// <summary>Connects and performs the dialling side of the handshake; a failure is a result, not an exception (except cancellation).</summary>
    internal async Task<DialResult> DialAsync(ulong peerId, EndPoint endPoint, ConnectionPurpose purpose, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        ConfigureSocket(socket);
        NetworkStream? stream = null;
        var handedOver = false;
        try
        {
            using (var timeout = new CancellationTokenSource(Options.ConnectTimeout, Time))
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token))
            {
                try
                {
                    await socket.ConnectAsync(endPoint, linked.Token).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    return DialResult.Failed(PeerDownReason.ConnectFailed, e.SocketErrorCode.ToString());
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    return DialResult.Failed(PeerDownReason.ConnectFailed, $"no connection within {Options.ConnectTimeout}");
                }
            }

            stream = new NetworkStream(socket, ownsSocket: true);
            using (var timeout = new CancellationTokenSource(Options.HandshakeTimeout, Time))
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token))
            {
                FrameRead answer;
                try
                {
                    var hello = new Hello(ProtocolVersion, purpose, Options.ClusterId, LocalId, peerId);
                    await stream.WriteAsync(hello.Encode(), linked.Token).ConfigureAwait(false);
                    answer = await new FrameReader(stream).ReadAsync(Hello.MaxFrameLength, linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    Logger.HandshakeFailed(peerId, endPoint, $"no answer within {Options.HandshakeTimeout}");
                    return DialResult.Failed(PeerDownReason.HandshakeFailed, "handshake timed out");
                }
                catch (IOException e)
                {
                    return DialResult.Failed(PeerDownReason.ConnectFailed, e.InnerException?.Message ?? e.Message);
                }

                if (answer.Status != FrameReadStatus.Frame || answer.Kind != FrameKind.HelloReply
                    || !HelloReply.TryDecode(answer.Payload, out var reply))
                {
                    var problem = answer.Status == FrameReadStatus.EndOfStream
                        ? "closed without an answer" : $"invalid answer ({answer.Status}, kind {answer.Kind})";
                    Logger.HandshakeFailed(peerId, endPoint, problem);
                    return DialResult.Failed(PeerDownReason.HandshakeFailed, problem);
                }

                if (reply.Status != HandshakeStatus.Accepted)
                {
                    Logger.RefusedByPeer(peerId, endPoint, reply.Status, reply.Version, reply.ClusterId, reply.MemberId, ProtocolVersion, Options.ClusterId);
                    return DialResult.Failed(PeerDownReason.HandshakeRefused, $"refused: {reply.Status}");
                }
            }

            var connected = stream;
            stream = null;
            handedOver = true;
            return DialResult.Connected(connected);
        }
        finally
        {
            // Unless handed over above, the socket is closed here, whichever way the dial failed.
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            else if (!handedOver)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>
    /// No Nagle delay (frames are already coalesced), and keepalive probes so that an idle connection to a
    /// member whose host vanished is noticed within about 10 s instead of never.
    /// </summary>
    private static void ConfigureSocket(Socket socket)
    {
        socket.NoDelay = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 5);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 1);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 5);
    }

    private void ApplyPeers(IReadOnlyDictionary<ulong, EndPoint> addresses)
    {
        var current = _senders;
        var next = new Dictionary<ulong, TcpPeerSender>();
        foreach (var (id, endPoint) in addresses)
        {
            if (id == LocalId)
            {
                continue;
            }

            if (current.TryGetValue(id, out var existing) && existing.EndPoint.Equals(endPoint))
            {
                next[id] = existing;
                continue;
            }

            var sender = new TcpPeerSender(this, id, endPoint, Options);
            next[id] = sender;
            sender.Start();
        }

        _senders = next;
        foreach (var (id, old) in current)
        {
            if (!next.TryGetValue(id, out var kept) || !ReferenceEquals(kept, old))
            {
                Track(old.StopAsync());
            }
        }
    }

    private async Task StopCoreAsync()
    {
        var wasRunning = Interlocked.Exchange(ref _state, StateStopped) == StateRunning;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        // The senders stay in place (stopped) so their counters remain readable.
        var senders = _senders;
        foreach (var sender in senders.Values)
        {
            Track(sender.StopAsync());
        }

        // Faults were logged by Track; a task that ends one way or another is all that matters here.
        while (_tasks.Keys.Where(t => !t.IsCompleted).ToArray() is { Length: > 0 } pending)
        {
            await Task.WhenAll(pending).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }

        _inbound.Writer.TryComplete();
        _status.Writer.TryComplete();
        _transfers.Writer.TryComplete();
        if (wasRunning)
        {
            Logger.Stopped(LocalId);
        }
    }

    private void Track(Task task)
    {
        _tasks.TryAdd(task, 0);
        task.ContinueWith(
            t =>
            {
                if (t.Exception is { } e)
                {
                    Logger.UnexpectedError(e.GetBaseException());
                }

                _tasks.TryRemove(t, out _);
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                break;
            }
            catch (SocketException e)
            {
                Logger.AcceptFailed(e.SocketErrorCode.ToString());
                continue;
            }

            ConfigureSocket(socket);
            Track(Task.Run(() => HandleInboundAsync(socket, cancellationToken), CancellationToken.None));
        }
    }

    private async Task HandleInboundAsync(Socket socket, CancellationToken cancellationToken)
    {
        var remote = socket.RemoteEndPoint?.ToString() ?? "(unknown)";
        var network = new NetworkStream(socket, ownsSocket: true);
        await using (network.ConfigureAwait(false))
        {
            try
            {
                var hello = await AcceptHelloAsync(network, remote, cancellationToken).ConfigureAwait(false);
                if (hello is not { } h)
                {
                    return;
                }

                Logger.InboundAccepted(h.SenderId, remote, h.Purpose);
                if (h.Purpose == ConnectionPurpose.Messages)
                {
                    await ReceiveMessagesAsync(network, h.SenderId, remote, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await ReceiveTransferAsync(network, h.SenderId, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping.
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                Logger.InboundFailed(remote, e.InnerException?.Message ?? e.Message);
            }
        }
    }

    /// <summary>Reads and judges the hello; answers it; returns it only when accepted.</summary>
    private async Task<Hello?> AcceptHelloAsync(NetworkStream network, string remote, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(Options.HandshakeTimeout, Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        FrameRead frame;
        try
        {
            frame = await new FrameReader(network).ReadAsync(Hello.MaxFrameLength, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Logger.RefusedNotAPeer(remote, $"no handshake within {Options.HandshakeTimeout}");
            return null;
        }

        if (!CheckFrame(frame, remote, Hello.MaxFrameLength))
        {
            return null;
        }

        if (frame.Kind != FrameKind.Hello || !Hello.TryDecode(frame.Payload, out var hello))
        {
            Logger.RefusedNotAPeer(remote, $"the first frame (kind {(byte)frame.Kind}) is not a Conclave peer handshake");
            return null;
        }

        HandshakeStatus status;
        if (hello.Version != ProtocolVersion)
        {
            status = HandshakeStatus.UnsupportedVersion;
            Logger.RefusedWrongVersion(remote, hello.Version, ProtocolVersion);
        }
        else if (hello.ClusterId != Options.ClusterId)
        {
            status = HandshakeStatus.ClusterMismatch;
            Logger.RefusedWrongCluster(remote, hello.ClusterId, Options.ClusterId);
        }
        else if (hello.TargetId != LocalId)
        {
            status = HandshakeStatus.WrongMember;
            Logger.RefusedWrongMember(hello.SenderId, remote, hello.TargetId, LocalId);
        }
        else if (hello.Purpose is not (ConnectionPurpose.Messages or ConnectionPurpose.Transfer))
        {
            status = HandshakeStatus.UnknownPurpose;
            Logger.RefusedNotAPeer(remote, $"unknown connection purpose {(byte)hello.Purpose}");
        }
        else
        {
            status = HandshakeStatus.Accepted;
        }

        var reply = new HelloReply(status, ProtocolVersion, Options.ClusterId, LocalId);
        await network.WriteAsync(reply.Encode(), linked.Token).ConfigureAwait(false);
        return status == HandshakeStatus.Accepted ? hello : null;
    }

    /// <summary>Logs why a read frame is unusable; true when it is a frame.</summary>
    private bool CheckFrame(FrameRead frame, string remote, int max)
    {
        switch (frame.Status)
        {
            case FrameReadStatus.Frame:
                return true;
            case FrameReadStatus.TooLarge:
                Logger.FrameTooLarge(remote, frame.Length, max);
                return false;
            case FrameReadStatus.Empty:
                Logger.BadFrame(remote, "a frame with a zero length prefix");
                return false;
            case FrameReadStatus.BadChecksum:
                Logger.BadFrame(remote, $"a frame of {frame.Length} bytes with a wrong checksum");
                return false;
            default:
                return false;
        }
    }

    private async Task ReceiveMessagesAsync(NetworkStream network, ulong from, string remote, CancellationToken cancellationToken)
    {
        var reader = new FrameReader(new BufferedStream(network, 64 * 1024));
        while (true)
        {
            var frame = await reader.ReadAsync(Options.MaxFrameBytes, cancellationToken).ConfigureAwait(false);
            if (frame.Status == FrameReadStatus.EndOfStream)
            {
                Logger.InboundClosed(from, remote);
                return;
            }

            if (!CheckFrame(frame, remote, Options.MaxFrameBytes))
            {
                return;
            }

            if (frame.Kind != FrameKind.Message)
            {
                Logger.BadFrame(remote, $"a frame of kind {(byte)frame.Kind} on a message connection");
                return;
            }

            await _inbound.Writer.WriteAsync(new InboundFrame(from, frame.Payload), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReceiveTransferAsync(NetworkStream network, ulong from, CancellationToken cancellationToken)
    {
        var content = new TransferReadStream(network, from, Options.MaxFrameBytes, cancellationToken);
        await _transfers.Writer.WriteAsync(new InboundTransfer(from, content), cancellationToken).ConfigureAwait(false);
        var outcome = await content.Finished.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (outcome is null)
        {
            Logger.TransferReceived(from, content.BytesReceived);
        }
        else
        {
            Logger.TransferFailed(from, content.BytesReceived, outcome);
        }
    }

    private async Task<TransferResult> SendTransferCoreAsync(ulong to, EndPoint endPoint, Stream content, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var token = linked.Token;
        long sent = 0;
        try
        {
            var dial = await DialAsync(to, endPoint, ConnectionPurpose.Transfer, token).ConfigureAwait(false);
            if (dial.Stream is not { } stream)
            {
                return new TransferResult(
                    dial.Reason == PeerDownReason.HandshakeRefused ? TransferStatus.Refused : TransferStatus.Unreachable, 0);
            }

            await using (stream.ConfigureAwait(false))
            {
                var chunk = Math.Min(Options.TransferChunkBytes, Options.MaxFrameBytes - 1);
                var buffer = ArrayPool<byte>.Shared.Rent(Frame.HeaderSize + chunk);
                try
                {
                    while (true)
                    {
                        var n = await content.ReadAtLeastAsync(buffer.AsMemory(Frame.HeaderSize, chunk), chunk, throwOnEndOfStream: false, token).ConfigureAwait(false);
                        if (n == 0)
                        {
                            break;
                        }

                        Frame.WriteHeader(buffer, FrameKind.Chunk, buffer.AsSpan(Frame.HeaderSize, n));
                        await stream.WriteAsync(buffer.AsMemory(0, Frame.HeaderSize + n), token).ConfigureAwait(false);
                        sent += n;
                        if (n < chunk)
                        {
                            break;
                        }
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                var end = new byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(end, sent);
                await stream.WriteAsync(Frame.Encode(FrameKind.ChunkEnd, end), token).ConfigureAwait(false);
                var ack = await new FrameReader(stream).ReadAsync(Hello.MaxFrameLength, token).ConfigureAwait(false);
                if (ack.Status == FrameReadStatus.Frame && ack.Kind == FrameKind.TransferAck && ack.Payload is [0])
                {
                    Logger.TransferSent(to, sent);
                    return new TransferResult(TransferStatus.Delivered, sent);
                }

                Logger.TransferFailed(to, sent, "the receiver did not acknowledge the end");
                return new TransferResult(TransferStatus.Failed, sent);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new TransferResult(TransferStatus.Stopped, sent);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            Logger.TransferFailed(to, sent, e.InnerException?.Message ?? e.Message);
            return new TransferResult(TransferStatus.Failed, sent);
        }
    }
}

/// <summary>The outcome of dialling a peer: a connected, handshaken stream, or why not.</summary>
internal readonly record struct DialResult(NetworkStream? Stream, PeerDownReason Reason, string Problem)
{
    public static DialResult Connected(NetworkStream stream) => new(stream, PeerDownReason.None, "");

    public static DialResult Failed(PeerDownReason reason, string problem) => new(null, reason, problem);
}
