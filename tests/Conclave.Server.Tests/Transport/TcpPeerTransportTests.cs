using System.Net;
using System.Net.Sockets;
using Conclave.Server.Transport;
using Microsoft.Extensions.Time.Testing;
using static Conclave.Server.Tests.Transport.TestKit;

namespace Conclave.Server.Tests.Transport;

public sealed class TcpPeerTransportTests
{
    [Fact]
    public async Task Frames_from_each_peer_arrive_in_the_order_sent()
    {
        var time = new FakeTimeProvider();
        await using var a = new TcpPeerTransport(Options(1), time);
        await using var b = new TcpPeerTransport(Options(2), time);
        await using var c = new TcpPeerTransport(Options(3), time);
        await Task.WhenAll(a.StartAsync(), b.StartAsync(), c.StartAsync());
        a.UpdatePeers(Peers((2, b)));
        c.UpdatePeers(Peers((2, b)));
        const int PerSender = 2000;

        // Sizes vary so some frames share a socket write and some (over the 64 KiB buffer) go alone.
        var sizes = new Random(3);
        for (var i = 0; i < PerSender; i++)
        {
            var size = i % 250 == 0 ? 100_000 : sizes.Next(12, 600);
            Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, i, size)));
            Assert.Equal(SendResult.Queued, c.Send(2, Numbered(3, i, size)));
        }

        var next = new Dictionary<ulong, int> { [1] = 0, [3] = 0 };
        for (var n = 0; n < 2 * PerSender; n++)
        {
            var frame = await b.Inbound.NextFrame($"frame {n + 1} of {2 * PerSender} at member 2");
            var (sender, sequence) = ParseNumbered(frame.Payload);
            Assert.Equal(frame.From, sender);
            Assert.Equal(next[sender], sequence);
            Assert.Equal(Numbered(sender, sequence, frame.Payload.Length), frame.Payload.ToArray());
            next[sender]++;
        }

        Assert.Equal(PerSender, next[1]);
        Assert.Equal(PerSender, next[3]);
    }

    [Fact]
    public async Task Frames_queued_while_connecting_go_out_in_one_socket_write()
    {
        var time = new FakeTimeProvider();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        await using var a = new TcpPeerTransport(Options(1), time);
        await a.StartAsync();
        a.UpdatePeers(new Dictionary<ulong, EndPoint> { [2] = listener.LocalEndpoint });

        // Member 2 is played by hand: it holds back its handshake answer until 500 frames are queued.
        using var socket = await listener.AcceptSocketAsync().Within("member 1 to dial member 2");
        await using var stream = new NetworkStream(socket);
        var reader = new FrameReader(stream);
        var hello = await reader.ReadAsync(1024, CancellationToken.None);
        Assert.Equal(FrameKind.Hello, hello.Kind);
        for (var i = 0; i < 500; i++)
        {
            Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, i, 100)));
        }

        await stream.WriteAsync(new HelloReply(HandshakeStatus.Accepted, TcpPeerTransport.ProtocolVersion, Cluster, 2).Encode());
        for (var i = 0; i < 500; i++)
        {
            var frame = await reader.ReadAsync(1024, CancellationToken.None).AsTask().Within($"frame {i} on the raw connection");
            Assert.Equal(FrameReadStatus.Frame, frame.Status);
            Assert.Equal(Numbered(1, i, 100), frame.Payload);
        }

        await a.StopAsync();
        var stats = a.GetSendStats(2)!.Value;
        Assert.Equal(500, stats.FramesSent);
        Assert.Equal(1, stats.SocketWrites); // 500 × 109 bytes fit the 64 KiB write buffer
        Assert.Equal(0, stats.FramesDropped);
    }

    [Fact]
    public async Task A_full_send_queue_drops_at_once_and_logs_once()
    {
        var time = new FakeTimeProvider();
        var log = new ListLogger();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var options = new TcpPeerTransportOptions { ClusterId = Cluster, LocalId = 1, SendQueueCapacity = 8 };
        await using var a = new TcpPeerTransport(options, time, log);
        await a.StartAsync();
        a.UpdatePeers(new Dictionary<ulong, EndPoint> { [2] = listener.LocalEndpoint });
        // The peer accepts but never answers the handshake (and fake time never times it out), so nothing drains.
        using var socket = await listener.AcceptSocketAsync().Within("member 1 to dial member 2");

        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, i)));
        }

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(SendResult.QueueFull, a.Send(2, Numbered(1, 100 + i)));
        }

        Assert.Equal(5, a.GetSendStats(2)!.Value.FramesDropped);
        Assert.Equal(1, log.Count(2115));
        Assert.Equal(SendResult.UnknownPeer, a.Send(9, Numbered(1, 0)));
        Assert.Equal(SendResult.TooLarge, a.Send(2, new byte[options.MaxFrameBytes]));
        await a.StopAsync();
        Assert.Equal(SendResult.Stopped, a.Send(2, Numbered(1, 0)));
    }

    [Fact]
    public async Task Reconnects_after_the_peer_restarts_on_the_same_port()
    {
        var time = new FakeTimeProvider();
        var log = new ListLogger();
        await using var a = new TcpPeerTransport(Options(1), time, log);
        var b = new TcpPeerTransport(Options(2), time);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        var port = b.LocalEndPoint!;
        a.UpdatePeers(Peers((2, b)));
        await a.Status.WaitForStatus(s => s is { Peer: 2, State: PeerState.Connected }, "member 1 to connect to member 2");
        Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, 0)));
        Assert.Equal((1ul, 0), ParseNumbered((await b.Inbound.NextFrame("the first frame")).Payload));

        await b.StopAsync();
        var lost = await a.Status.WaitForStatus(s => s.Peer == 2 && s.State == PeerState.Unreachable, "member 1 to notice member 2 is gone");
        Assert.Equal(PeerDownReason.ConnectionLost, lost.Reason);
        Assert.InRange(lost.RetryIn, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100));
        await log.WaitFor(2103);

        // While member 2 is down the reconnect timer (fake time) has not fired; restart it on its port, then fire it.
        await using var restarted = new TcpPeerTransport(
            new TcpPeerTransportOptions { ClusterId = Cluster, LocalId = 2, ListenEndPoint = port }, time);
        await restarted.StartAsync();
        time.Advance(lost.RetryIn);
        await a.Status.WaitForStatus(s => s is { Peer: 2, State: PeerState.Connected }, "member 1 to reconnect to the restarted member 2");

        Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, 1)));
        Assert.Equal((1ul, 1), ParseNumbered((await restarted.Inbound.NextFrame("a frame after the reconnect")).Payload));
        Assert.Equal(2, log.Count(2102));
        Assert.Equal(0, log.Count(2121));
    }

    [Fact]
    public async Task Failed_attempts_back_off_exponentially_on_the_injected_clock()
    {
        var time = new FakeTimeProvider();
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var nobody = closed.LocalEndpoint;
        closed.Stop(); // a port with nothing listening: every connect is refused at once

        await using var a = new TcpPeerTransport(Options(1), time);
        await a.StartAsync();
        a.UpdatePeers(new Dictionary<ulong, EndPoint> { [2] = nobody });
        for (var attempt = 0; attempt < 6; attempt++)
        {
            var status = await a.Status.WaitForStatus(s => s.Peer == 2, $"failed attempt {attempt + 1}");
            Assert.Equal(PeerState.Unreachable, status.State);
            Assert.Equal(PeerDownReason.ConnectFailed, status.Reason);
            var ceiling = TimeSpan.FromMilliseconds(100 * (1 << attempt));
            Assert.InRange(status.RetryIn, ceiling / 2, ceiling);
            time.Advance(status.RetryIn);
        }
    }

    [Fact]
    public async Task Stop_closes_everything_and_waits_for_every_task()
    {
        var time = new FakeTimeProvider();
        var a = new TcpPeerTransport(Options(1), time);
        var b = new TcpPeerTransport(Options(2), time);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        a.UpdatePeers(Peers((2, b)));
        b.UpdatePeers(Peers((1, a)));
        await a.Status.WaitForStatus(s => s.State == PeerState.Connected, "member 1 to connect");
        await b.Status.WaitForStatus(s => s.State == PeerState.Connected, "member 2 to connect");
        Assert.True(a.RunningTasks >= 2);

        await a.StopAsync().Within("member 1 to stop");
        await b.StopAsync().Within("member 2 to stop");

        Assert.Equal(0, a.RunningTasks);
        Assert.Equal(0, b.RunningTasks);
        Assert.True(a.Inbound.Completion.IsCompleted);
        Assert.True(b.InboundTransfers.Completion.IsCompleted);
        // The port is free again.
        using var rebind = new Socket(SocketType.Stream, ProtocolType.Tcp);
        rebind.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        rebind.Bind(a.LocalEndPoint!);
    }

    [Fact]
    public async Task Removing_a_peer_disconnects_it_and_later_sends_are_refused()
    {
        var time = new FakeTimeProvider();
        var bLog = new ListLogger();
        await using var a = new TcpPeerTransport(Options(1), time);
        await using var b = new TcpPeerTransport(Options(2), time, bLog);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        a.UpdatePeers(Peers((2, b)));
        await a.Status.WaitForStatus(s => s.State == PeerState.Connected, "member 1 to connect");

        a.UpdatePeers(new Dictionary<ulong, EndPoint>());

        await bLog.WaitFor(2112); // member 2 sees the connection from member 1 close
        Assert.Equal(SendResult.UnknownPeer, a.Send(2, Numbered(1, 0)));
    }

    [Fact]
    public async Task A_changed_address_moves_the_connection_to_the_new_address()
    {
        var time = new FakeTimeProvider();
        var log = new ListLogger();
        var oldLog = new ListLogger();
        await using var a = new TcpPeerTransport(Options(1), time, log);
        await using var oldB = new TcpPeerTransport(Options(2), time, oldLog);
        await using var newB = new TcpPeerTransport(Options(2), time);
        await Task.WhenAll(a.StartAsync(), oldB.StartAsync(), newB.StartAsync());
        a.UpdatePeers(Peers((2, oldB)));
        await a.Status.WaitForStatus(s => s.State == PeerState.Connected, "member 1 to connect to the old address");

        a.UpdatePeers(Peers((2, newB)));

        await a.Status.WaitForStatus(s => s.State == PeerState.Connected, "member 1 to connect to the new address");
        await oldLog.WaitFor(2112);
        Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, 5)));
        Assert.Equal((1ul, 5), ParseNumbered((await newB.Inbound.NextFrame("a frame at the new address")).Payload));
        Assert.False(oldB.Inbound.TryRead(out _));
        Assert.Equal(0, log.Count(2121));
    }

    [Fact]
    public async Task A_peer_that_stops_reading_is_given_up_after_the_write_timeout()
    {
        var time = new FakeTimeProvider();
        var log = new ListLogger();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var options = new TcpPeerTransportOptions { ClusterId = Cluster, LocalId = 1, MaxFrameBytes = 64 * 1024 * 1024 };
        await using var a = new TcpPeerTransport(options, time, log);
        await a.StartAsync();
        a.UpdatePeers(new Dictionary<ulong, EndPoint> { [2] = listener.LocalEndpoint });
        using var socket = await listener.AcceptSocketAsync().Within("member 1 to dial member 2");
        await using var stream = new NetworkStream(socket);
        Assert.Equal(FrameKind.Hello, (await new FrameReader(stream).ReadAsync(1024, CancellationToken.None)).Kind);
        await stream.WriteAsync(new HelloReply(HandshakeStatus.Accepted, TcpPeerTransport.ProtocolVersion, Cluster, 2).Encode());
        await a.Status.WaitForStatus(s => s.State == PeerState.Connected, "member 1 to connect");

        // 48 MiB cannot fit in the socket buffers; once its first bytes arrive the write is under way, and
        // member 2 reads nothing more, so it cannot finish.
        Assert.Equal(SendResult.Queued, a.Send(2, new byte[48 * 1024 * 1024]));
        await stream.ReadExactlyAsync(new byte[Frame.HeaderSize + 1024]).AsTask().Within("the start of the big frame");
        time.Advance(options.WriteTimeout);

        var status = await a.Status.WaitForStatus(s => s.State == PeerState.Unreachable, "member 1 to give up on the stalled write");
        Assert.Equal(PeerDownReason.ConnectionLost, status.Reason);
        Assert.Contains("no progress within 00:00:10", await log.WaitFor(2103));
    }
}
