using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Conclave.Server.Transport;
using Microsoft.Extensions.Logging;

namespace Conclave.Server.Tests.Transport;

/// <summary>Awaiting with a deadline whose message says what was expected; never sleeping.</summary>
internal static class TestKit
{
    public const ulong Cluster = 0xC0C1A7E;

    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    public static async Task<T> Within<T>(this Task<T> task, string expected)
    {
        try
        {
            return await task.WaitAsync(Deadline);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"expected {expected} within {Deadline.TotalSeconds} s");
        }
    }

    public static async Task Within(this Task task, string expected)
    {
        try
        {
            await task.WaitAsync(Deadline);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"expected {expected} within {Deadline.TotalSeconds} s");
        }
    }

    public static Task<InboundFrame> NextFrame(this ChannelReader<InboundFrame> reader, string expected) =>
        reader.ReadAsync().AsTask().Within(expected);

    public static Task<PeerStatus> WaitForStatus(this ChannelReader<PeerStatus> reader, Func<PeerStatus, bool> match, string expected)
    {
        return Loop().Within(expected);

        async Task<PeerStatus> Loop()
        {
            while (true)
            {
                var status = await reader.ReadAsync();
                if (match(status))
                {
                    return status;
                }
            }
        }
    }

    public static TcpPeerTransportOptions Options(ulong id, ulong cluster = Cluster) => new() { ClusterId = cluster, LocalId = id };

    public static Dictionary<ulong, EndPoint> Peers(params (ulong Id, TcpPeerTransport Transport)[] peers) =>
        peers.ToDictionary(p => p.Id, p => (EndPoint)p.Transport.LocalEndPoint!);

    public static byte[] Numbered(ulong sender, int sequence, int size = 16)
    {
        var bytes = new byte[Math.Max(size, 12)];
        BitConverter.TryWriteBytes(bytes, sender);
        BitConverter.TryWriteBytes(bytes.AsSpan(8), sequence);
        for (var i = 12; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(sequence + i);
        }

        return bytes;
    }

    public static (ulong Sender, int Sequence) ParseNumbered(ReadOnlyMemory<byte> payload) =>
        (BitConverter.ToUInt64(payload.Span), BitConverter.ToInt32(payload.Span[8..]));
}

/// <summary>A logger that records entries and lets a test await one with a given event id.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly Lock _lock = new();
    private readonly List<(LogLevel Level, int EventId, string Message)> _entries = [];
    private readonly List<(int EventId, TaskCompletionSource Signal)> _waiters = [];

    public IReadOnlyList<(LogLevel Level, int EventId, string Message)> Entries
    {
        get
        {
            lock (_lock)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lock)
        {
            _entries.Add((logLevel, eventId.Id, formatter(state, exception)));
            foreach (var waiter in _waiters.Where(w => w.EventId == eventId.Id).ToList())
            {
                waiter.Signal.TrySetResult();
                _waiters.Remove(waiter);
            }
        }
    }

    public int Count(int eventId)
    {
        lock (_lock)
        {
            return _entries.Count(e => e.EventId == eventId);
        }
    }

    /// <summary>Completes when an entry with <paramref name="eventId"/> has been logged (already or later); returns its message.</summary>
    public async Task<string> WaitFor(int eventId)
    {
        Task wait;
        lock (_lock)
        {
            if (_entries.Any(e => e.EventId == eventId))
            {
                return _entries.First(e => e.EventId == eventId).Message;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((eventId, signal));
            wait = signal.Task;
        }

        await wait.Within($"a log entry with event id {eventId}");
        return Entries.First(e => e.EventId == eventId).Message;
    }
}

/// <summary>A hand-driven client socket for feeding a transport bytes it must refuse.</summary>
internal sealed class RawClient : IAsyncDisposable
{
    private readonly NetworkStream _stream;

    private RawClient(NetworkStream stream)
    {
        _stream = stream;
    }

    public static async Task<RawClient> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint);
        return new RawClient(new NetworkStream(socket, ownsSocket: true));
    }

    public ValueTask SendAsync(byte[] bytes) => _stream.WriteAsync(bytes);

    public Task<FrameRead> ReadFrameAsync() => new FrameReader(_stream).ReadAsync(1 << 20, CancellationToken.None).AsTask();

    /// <summary>Completes when the other side has closed the connection (end of stream or reset).</summary>
    public Task ClosedByPeer() => Drain().Within("the transport to close the connection");

    public ValueTask DisposeAsync() => _stream.DisposeAsync();

    private async Task Drain()
    {
        var buffer = new byte[4096];
        try
        {
            while (await _stream.ReadAsync(buffer) > 0)
            {
            }
        }
        catch (IOException)
        {
            // Reset by the peer: closed too.
        }
    }
}
