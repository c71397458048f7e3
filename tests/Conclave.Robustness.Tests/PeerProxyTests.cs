using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Conclave.Robustness.Network;

namespace Conclave.Robustness.Tests;

public sealed class PeerProxyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public void Classify_reads_the_sender_and_the_direction_of_an_etcd_peer_request()
    {
        var stream = PeerProxy.Classify("GET /raft/stream/message/8e9e05c52164694d HTTP/1.1\r\nHost: x\r\nX-Server-From: 8e9e05c52164694d\r\n\r\n"u8);
        var pipeline = PeerProxy.Classify("POST /raft HTTP/1.1\r\nx-server-from: 91bc3c398fb3c146\r\n\r\n"u8);
        var unknown = PeerProxy.Classify([0x16, 0x03, 0x01]);
        Assert.Equal(new PeerConnectionKind("8e9e05c52164694d", DataTowardsSource: true), stream);
        Assert.Equal(new PeerConnectionKind("91bc3c398fb3c146", DataTowardsSource: false), pipeline);
        Assert.Equal(new PeerConnectionKind(null, DataTowardsSource: false), unknown);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    public void Classify_reads_the_sender_of_a_conclave_hello(byte purpose, bool bothWays)
    {
        var hello = ConclaveHello(purpose, sender: 0x8e9e05c52164694d, target: 0x91bc3c398fb3c146);
        Assert.Equal(40, hello.Length);
        Assert.Equal(hello.Length, PeerProxy.HelloFrameLength(hello));
        Assert.Equal(new PeerConnectionKind("8e9e05c52164694d", DataTowardsSource: false, bothWays), PeerProxy.Classify(hello));

        // Small ids are not padded: the cluster keys member ids with ToString("x").
        Assert.Equal("a1", PeerProxy.Classify(ConclaveHello(purpose, sender: 0xa1, target: 2)).SourceId);
    }

    [Fact]
    public void Classify_leaves_garbage_and_damaged_hellos_unknown()
    {
        var unknown = new PeerConnectionKind(null, DataTowardsSource: false);
        var hello = ConclaveHello(1, sender: 0xa1, target: 2);
        Assert.Equal(unknown, PeerProxy.Classify(hello.AsSpan(0, 39)));
        Assert.Equal(unknown, PeerProxy.Classify(hello.AsSpan(0, 3)));
        foreach (var (offset, value) in new[] { (8, (byte)3), (9, (byte)0x00), (13, (byte)2), (15, (byte)9) })
        {
            var damaged = hello.ToArray();
            damaged[offset] = value;
            Assert.Equal(unknown, PeerProxy.Classify(damaged));
        }

        var random = new Random(7);
        for (var i = 0; i < 1000; i++)
        {
            var garbage = new byte[random.Next(0, 64)];
            random.NextBytes(garbage);
            Assert.Null(PeerProxy.Classify(garbage).SourceId);
        }

        Assert.Equal(-1, PeerProxy.HelloFrameLength("GET /raft/stream/"u8));
    }

    [Fact]
    public async Task A_conclave_hello_passes_unchanged_and_one_way_blocks_follow_its_purpose()
    {
        using var echo = new TcpListener(IPAddress.Loopback, 0);
        echo.Start();
        using var stopEcho = new CancellationTokenSource();
        var echoLoop = EchoAsync(echo, stopEcho.Token);
        var network = new NetworkConditions(2);
        await using var proxy = new PeerProxy(0, 0, ((IPEndPoint)echo.LocalEndpoint).Port, network, id => id == "a1" ? 1 : null);
        var messages = ConclaveHello(1, sender: 0xa1, target: 0xb0);
        var transfer = ConclaveHello(2, sender: 0xa1, target: 0xb0);

        // The echo returns exactly the hello bytes: the proxy forwarded them unchanged.
        using (var live = await ConnectBytesAsync(proxy.Port, messages))
        {
            Assert.Equal("ping", await RoundTripAsync(live, "ping"));

            // Member 0 cannot send to 1: messages from 1 to 0 still flow, a transfer (needs the ack back) does not.
            network.BlockOneWay(0, 1);
            Assert.Equal("still", await RoundTripAsync(live, "still"));
        }

        using (var refusedTransfer = await ConnectBytesAsync(proxy.Port, transfer))
        {
            Assert.Null(await RoundTripAsync(refusedTransfer, "x"));
        }

        // Member 1 cannot send to 0: a live messages connection from 1 is closed, new ones are refused.
        network.Heal();
        using (var closed = await ConnectBytesAsync(proxy.Port, messages))
        {
            Assert.Equal("before", await RoundTripAsync(closed, "before"));
            network.BlockOneWay(1, 0);
            Assert.Null(await RoundTripAsync(closed, "after"));
        }

        using (var refused = await ConnectBytesAsync(proxy.Port, messages))
        {
            Assert.Null(await RoundTripAsync(refused, "y"));
        }

        Assert.True(proxy.Cut >= 3, $"expected at least 3 cut connections, saw {proxy.Cut}");
        await stopEcho.CancelAsync();
        await echoLoop;
    }

    /// <summary>A version-1 Conclave hello frame as TcpPeerTransport sends it (the proxy does not check the crc).</summary>
    private static byte[] ConclaveHello(byte purpose, ulong sender, ulong target)
    {
        var frame = new byte[9 + 31];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, 32);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), 0xdeadbeef);
        frame[8] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(9), 0x4C434E43);
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(13), 1);
        frame[15] = purpose;
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(16), 0x5eed);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(24), sender);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(32), target);
        return frame;
    }

    /// <summary>Connects through the proxy, sends <paramref name="head"/> and checks the echo returns it byte for byte (or closes).</summary>
    private static async Task<Socket> ConnectBytesAsync(int port, byte[] head)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync(head, SocketFlags.None);
        using var timeout = new CancellationTokenSource(Timeout);
        var echoed = new byte[head.Length];
        var read = 0;
        try
        {
            while (read < head.Length)
            {
                var n = await socket.ReceiveAsync(echoed.AsMemory(read), SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    return socket;
                }

                read += n;
            }
        }
        catch (SocketException)
        {
            return socket;
        }

        Assert.Equal(head, echoed);
        return socket;
    }

    [Fact]
    public async Task A_partition_closes_live_connections_refuses_new_ones_and_heal_restores_them()
    {
        using var echo = new TcpListener(IPAddress.Loopback, 0);
        echo.Start();
        using var stopEcho = new CancellationTokenSource();
        var echoLoop = EchoAsync(echo, stopEcho.Token);
        var network = new NetworkConditions(2);
        await using var proxy = new PeerProxy(0, 0, ((IPEndPoint)echo.LocalEndpoint).Port, network, id => id == "a1" ? 1 : null);

        using (var live = await ConnectAsync(proxy.Port))
        {
            Assert.Equal("ping", await RoundTripAsync(live, "ping"));
            network.Partition([1]);
            Assert.Null(await RoundTripAsync(live, "after"));
        }

        using (var refused = await ConnectAsync(proxy.Port))
        {
            Assert.Null(await RoundTripAsync(refused, "again"));
        }

        network.Heal();
        using (var healed = await ConnectAsync(proxy.Port))
        {
            Assert.Equal("healed", await RoundTripAsync(healed, "healed"));
        }

        // Member 1 cannot send to 0: a POST from 1 (data 1 -> 0) is refused, a stream GET from 1 (data 0 -> 1) is not.
        network.BlockOneWay(1, 0);
        using (var post = await ConnectAsync(proxy.Port, "POST /raft HTTP/1.1\r\nX-Server-From: a1\r\n\r\n"))
        {
            Assert.Null(await RoundTripAsync(post, "x"));
        }

        using (var get = await ConnectAsync(proxy.Port, "GET /raft/stream/message/a1 HTTP/1.1\r\nX-Server-From: a1\r\n\r\n"))
        {
            Assert.Equal("y", await RoundTripAsync(get, "y"));
        }

        Assert.True(proxy.Cut >= 3, $"expected at least 3 cut connections, saw {proxy.Cut}");
        await stopEcho.CancelAsync();
        await echoLoop;
    }

    /// <summary>Connects through the proxy and sends a request head naming member 1 as the sender; the echo returns it.</summary>
    private static async Task<Socket> ConnectAsync(int port, string head = "POST /raft HTTP/1.1\r\nX-Server-From: a1\r\n\r\n")
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var bytes = Encoding.ASCII.GetBytes(head);
        await socket.SendAsync(bytes, SocketFlags.None);
        var echoed = await ReadExactlyAsync(socket, bytes.Length);
        Assert.True(echoed is null || echoed == head, $"the echo returned {echoed}");
        return socket;
    }

    /// <summary>Sends text and reads it back; null when the connection was closed instead.</summary>
    private static async Task<string?> RoundTripAsync(Socket socket, string text)
    {
        try
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None);
        }
        catch (SocketException)
        {
            return null;
        }

        return await ReadExactlyAsync(socket, text.Length);
    }

    private static async Task<string?> ReadExactlyAsync(Socket socket, int length)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        var buffer = new byte[length];
        var read = 0;
        try
        {
            while (read < length)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    return null;
                }

                read += n;
            }
        }
        catch (SocketException)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"expected {length} bytes or a closed connection within {Timeout.TotalSeconds} s");
        }

        return Encoding.ASCII.GetString(buffer);
    }

    private static async Task EchoAsync(TcpListener listener, CancellationToken stop)
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                var socket = await listener.AcceptSocketAsync(stop);
                connections.Add(Task.Run(async () =>
                {
                    using (socket)
                    {
                        var buffer = new byte[1024];
                        try
                        {
                            int n;
                            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, stop)) > 0)
                            {
                                await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, stop);
                            }
                        }
                        catch (Exception e) when (e is SocketException or OperationCanceledException)
                        {
                        }
                    }
                }, CancellationToken.None));
            }
        }
        catch (OperationCanceledException)
        {
        }

        await Task.WhenAll(connections);
    }
}
