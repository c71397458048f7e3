using System.Buffers.Binary;
using System.Net;
using Conclave.Server.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Conclave.Server.Tests.Transport.TestKit;

namespace Conclave.Server.Tests.Transport;

public sealed class HandshakeAndBadInputTests
{
    [Fact]
    public async Task A_member_of_another_cluster_is_refused_on_both_sides_with_a_clear_log()
    {
        var time = new FakeTimeProvider();
        var aLog = new ListLogger();
        var bLog = new ListLogger();
        await using var a = new TcpPeerTransport(Options(1, cluster: 0xAAAA), time, aLog);
        await using var b = new TcpPeerTransport(Options(2, cluster: 0xBBBB), time, bLog);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());

        a.UpdatePeers(Peers((2, b)));

        var status = await a.Status.WaitForStatus(s => s.Peer == 2, "member 1 to report member 2");
        Assert.Equal(PeerState.Unreachable, status.State);
        Assert.Equal(PeerDownReason.HandshakeRefused, status.Reason);
        Assert.Contains("cluster 000000000000aaaa", await bLog.WaitFor(2107));
        Assert.Contains("ClusterMismatch", await aLog.WaitFor(2105));
        Assert.Equal(0, bLog.Count(2111));
        Assert.False(b.Inbound.TryRead(out _));
    }

    [Fact]
    public async Task An_address_that_leads_to_another_member_is_refused()
    {
        var time = new FakeTimeProvider();
        var bLog = new ListLogger();
        await using var a = new TcpPeerTransport(Options(1), time);
        await using var b = new TcpPeerTransport(Options(2), time, bLog);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());

        a.UpdatePeers(new Dictionary<ulong, EndPoint> { [5] = b.LocalEndPoint! });

        var status = await a.Status.WaitForStatus(s => s.Peer == 5, "member 1 to report member 5");
        Assert.Equal(PeerDownReason.HandshakeRefused, status.Reason);
        Assert.Contains("it wanted member 5, we are member 2", await bLog.WaitFor(2109));
    }

    [Fact]
    public async Task An_unknown_protocol_version_is_refused_with_our_version_in_the_answer()
    {
        var log = new ListLogger();
        await using var b = new TcpPeerTransport(Options(2), new FakeTimeProvider(), log);
        await b.StartAsync();
        await using var client = await RawClient.ConnectAsync(b.LocalEndPoint!);

        await client.SendAsync(new Hello(99, ConnectionPurpose.Messages, Cluster, 1, 2).Encode());

        var answer = await client.ReadFrameAsync().Within("a handshake answer");
        Assert.Equal(FrameKind.HelloReply, answer.Kind);
        Assert.True(HelloReply.TryDecode(answer.Payload, out var reply));
        Assert.Equal(HandshakeStatus.UnsupportedVersion, reply.Status);
        Assert.Equal(TcpPeerTransport.ProtocolVersion, reply.Version);
        await client.ClosedByPeer();
        Assert.Contains("protocol version 99, we speak version 1", await log.WaitFor(2108));
    }

    public static TheoryData<string> BadInputs() => ["oversized-first-frame", "oversized-after-handshake", "bad-checksum", "garbage", "http", "empty-frame"];

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Bad_input_closes_that_connection_and_the_listener_keeps_serving(string input)
    {
        var time = new FakeTimeProvider();
        var log = new ListLogger();
        await using var b = new TcpPeerTransport(Options(2), time, log);
        await b.StartAsync();
        await using var client = await RawClient.ConnectAsync(b.LocalEndPoint!);
        int expectedEvent;
        switch (input)
        {
            case "oversized-first-frame":
                await client.SendAsync(Header(0x7FFF_FFF0));
                expectedEvent = 2113;
                break;
            case "oversized-after-handshake":
                await Handshake(client);
                await client.SendAsync(Header(uint.MaxValue));
                expectedEvent = 2113;
                break;
            case "bad-checksum":
                await Handshake(client);
                var frame = Frame.Encode(FrameKind.Message, [1, 2, 3, 4]);
                frame[^1] ^= 1;
                await client.SendAsync(frame);
                expectedEvent = 2114;
                break;
            case "garbage":
                var garbage = new byte[4096];
                new Random(17).NextBytes(garbage);
                garbage[0] = 200; // a plausible length prefix, so the random bytes are read and fail the checksum
                garbage[1] = 0;
                garbage[2] = 0;
                garbage[3] = 0;
                await client.SendAsync(garbage);
                expectedEvent = 2114;
                break;
            case "http":
                await client.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
                expectedEvent = 2113; // "GET " read as a length prefix is far over the hello limit
                break;
            default:
                await client.SendAsync(new byte[Frame.HeaderSize]);
                expectedEvent = 2114;
                break;
        }

        await client.ClosedByPeer();
        await log.WaitFor(expectedEvent);
        Assert.Equal(LogLevel.Error, log.Entries.First(e => e.EventId == expectedEvent).Level);

        // A real member still gets through.
        await using var a = new TcpPeerTransport(Options(1), time);
        await a.StartAsync();
        a.UpdatePeers(Peers((2, b)));
        Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, 42)));
        Assert.Equal((1ul, 42), ParseNumbered((await b.Inbound.NextFrame("a frame from a good peer")).Payload));
    }

    private static byte[] Header(uint length)
    {
        var header = new byte[Frame.HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, length);
        header[8] = (byte)FrameKind.Message;
        return header;
    }

    private static async Task Handshake(RawClient client)
    {
        await client.SendAsync(new Hello(TcpPeerTransport.ProtocolVersion, ConnectionPurpose.Messages, Cluster, 7, 2).Encode());
        var answer = await client.ReadFrameAsync().Within("a handshake answer");
        Assert.True(HelloReply.TryDecode(answer.Payload, out var reply));
        Assert.Equal(HandshakeStatus.Accepted, reply.Status);
    }
}
