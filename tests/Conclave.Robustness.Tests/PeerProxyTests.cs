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
