using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Conclave.Server.Transport;

/// <summary>
/// The outbound side for one peer: a bounded queue of frames and one loop that (re)connects, performs
/// the handshake and drains the queue, copying as many queued frames as fit into one buffer per socket
/// write. The loop also reads the socket: the peer never sends on this connection, so a read that ends
/// means the connection is gone, and the loop reconnects after a backoff.
/// </summary>
internal sealed class TcpPeerSender
{
    private readonly TcpPeerTransport _transport;
    private readonly Channel<ReadOnlyMemory<byte>> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly ReconnectBackoff _backoff;
    private readonly int _capacity;
    private Task _run = Task.CompletedTask;
    private long _framesSent;
    private long _socketWrites;
    private long _framesDropped;
    private int _dropping;

    public TcpPeerSender(TcpPeerTransport transport, ulong peerId, EndPoint endPoint, TcpPeerTransportOptions options)
    {
        _transport = transport;
        PeerId = peerId;
        EndPoint = endPoint;
        _capacity = options.SendQueueCapacity;
        _queue = Channel.CreateBounded<ReadOnlyMemory<byte>>(new BoundedChannelOptions(options.SendQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
        _backoff = new ReconnectBackoff(options.ReconnectBaseDelay, options.ReconnectMaxDelay, HashCode.Combine(options.RandomSeed, peerId));
    }

    public ulong PeerId { get; }

    public EndPoint EndPoint { get; }

    public PeerSendStats Stats => new(
        Interlocked.Read(ref _framesSent), Interlocked.Read(ref _socketWrites), Interlocked.Read(ref _framesDropped));

    private ILogger Log => _transport.Logger;

    public void Start() => _run = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Never blocks: a full queue drops the frame (logged once until the queue accepts again).</summary>
    public SendResult TryEnqueue(ReadOnlyMemory<byte> frame)
    {
        if (_queue.Writer.TryWrite(frame))
        {
            Volatile.Write(ref _dropping, 0);
            return SendResult.Queued;
        }

        if (_stop.IsCancellationRequested)
        {
            return SendResult.Stopped;
        }

        Interlocked.Increment(ref _framesDropped);
        if (Interlocked.Exchange(ref _dropping, 1) == 0)
        {
            Log.SendQueueFull(PeerId, _capacity);
        }

        return SendResult.QueueFull;
    }

    /// <summary>Closes the connection, drops what is queued and waits for the loop to end.</summary>
    public async Task StopAsync()
    {
        // Cancel first: a loop that saw the queue complete before the cancellation would report a lost connection.
        await _stop.CancelAsync();
        _queue.Writer.TryComplete();
        await _run;
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ConnectAndPumpAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped or removed.
        }
        catch (Exception e)
        {
            // A bug: this peer gets no more frames; say so loudly rather than fault at stop time.
            Log.UnexpectedError(e);
        }
    }

    private async Task ConnectAndPumpAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[_transport.Options.WriteBufferBytes];
        var wasConnected = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            PeerDownReason reason;
            string problem;
            var dial = await _transport.DialAsync(PeerId, EndPoint, ConnectionPurpose.Messages, cancellationToken).ConfigureAwait(false);
            if (dial.Stream is { } stream)
            {
                _backoff.Reset();
                wasConnected = true;
                Log.PeerConnected(PeerId, EndPoint);
                _transport.Publish(new PeerStatus(PeerId, PeerState.Connected, PeerDownReason.None, TimeSpan.Zero));
                reason = PeerDownReason.ConnectionLost;
                problem = await PumpAsync(stream, buffer, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                reason = dial.Reason;
                problem = dial.Problem;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                break;
            }

            var retryIn = _backoff.Next();
            // The delay (and its timer) exists before anyone hears about the failure, so a test that
            // advances a fake clock on seeing this status always fires it.
            var delay = Task.Delay(retryIn, _transport.Time, cancellationToken);
            if (wasConnected)
            {
                Log.PeerConnectionLost(PeerId, EndPoint, problem, retryIn);
                wasConnected = false;
            }
            else
            {
                Log.ConnectFailed(PeerId, EndPoint, problem, retryIn);
            }

            _transport.Publish(new PeerStatus(PeerId, PeerState.Unreachable, reason, retryIn));
            try
            {
                await delay.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Writes queued frames until the connection fails; returns what went wrong. Throws only when stopped.</summary>
    private async Task<string> PumpAsync(NetworkStream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        using var lost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Armed for the duration of each socket write: a peer that stops reading (or a host that vanished
        // while data is pending) is given up on after WriteTimeout instead of TCP's retransmission timeout.
        using var deadline = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _transport.Time);
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(lost.Token, deadline.Token);
        var write = new WriteContext(stream, deadline, writing.Token, _transport.Options.WriteTimeout);
        var watcher = WatchForCloseAsync(stream, lost);
        try
        {
            var reader = _queue.Reader;
            while (await reader.WaitToReadAsync(lost.Token).ConfigureAwait(false))
            {
                var used = 0;
                while (reader.TryRead(out var frame))
                {
                    var size = Frame.HeaderSize + frame.Length;
                    if (used + size > buffer.Length && used > 0)
                    {
                        await WriteAsync(write, buffer.AsMemory(0, used)).ConfigureAwait(false);
                        used = 0;
                    }

                    if (size > buffer.Length)
                    {
                        // Too big to coalesce: header and payload straight to the socket.
                        var header = new byte[Frame.HeaderSize];
                        Frame.WriteHeader(header, FrameKind.Message, frame.Span);
                        await WriteAsync(write, header).ConfigureAwait(false);
                        await WriteAsync(write, frame).ConfigureAwait(false);
                    }
                    else
                    {
                        Frame.WriteHeader(buffer.AsSpan(used), FrameKind.Message, frame.Span);
                        frame.Span.CopyTo(buffer.AsSpan(used + Frame.HeaderSize));
                        used += size;
                    }

                    Interlocked.Increment(ref _framesSent);
                }

                if (used > 0)
                {
                    await WriteAsync(write, buffer.AsMemory(0, used)).ConfigureAwait(false);
                }
            }

            return "peer removed";
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return $"a write made no progress within {_transport.Options.WriteTimeout}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return "closed by the peer";
        }
        catch (IOException e)
        {
            return e.InnerException?.Message ?? e.Message;
        }
        finally
        {
            await lost.CancelAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            await watcher.ConfigureAwait(false);
        }
    }

    private async ValueTask WriteAsync(WriteContext write, ReadOnlyMemory<byte> bytes)
    {
        write.Deadline.CancelAfter(write.Timeout);
        await write.Stream.WriteAsync(bytes, write.Token).ConfigureAwait(false);
        write.Deadline.CancelAfter(Timeout.InfiniteTimeSpan);
        Interlocked.Increment(ref _socketWrites);
    }

    private readonly record struct WriteContext(NetworkStream Stream, CancellationTokenSource Deadline, CancellationToken Token, TimeSpan Timeout);

    private static async Task WatchForCloseAsync(NetworkStream stream, CancellationTokenSource lost)
    {
        var one = new byte[1];
        try
        {
            await stream.ReadAsync(one, lost.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Either way the connection is finished.
        }

        await lost.CancelAsync().ConfigureAwait(false);
    }
}

/// <summary>Counters of one peer's outbound queue since it was added: frames written, socket writes they took, frames dropped.</summary>
public readonly record struct PeerSendStats(long FramesSent, long SocketWrites, long FramesDropped);
