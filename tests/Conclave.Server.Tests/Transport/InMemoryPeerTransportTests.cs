using Conclave.Server.Transport;
using Microsoft.Extensions.Time.Testing;
using static Conclave.Server.Tests.Transport.TestKit;

namespace Conclave.Server.Tests.Transport;

public sealed class InMemoryPeerTransportTests
{
    private static async Task<InMemoryPeerTransport[]> Cluster3(InMemoryTransportHub hub)
    {
        var members = new[] { hub.CreateTransport(1), hub.CreateTransport(2), hub.CreateTransport(3) };
        foreach (var m in members)
        {
            await m.StartAsync();
            m.UpdatePeers([1, 2, 3]);
        }

        return members;
    }

    [Fact]
    public async Task Frames_are_delivered_in_order_with_the_sender_id()
    {
        var members = await Cluster3(new InMemoryTransportHub(seed: 1));

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(SendResult.Queued, members[0].Send(2, Numbered(1, i)));
        }

        for (var i = 0; i < 100; i++)
        {
            Assert.True(members[1].Inbound.TryRead(out var frame));
            Assert.Equal((1ul, i), ParseNumbered(frame.Payload));
            Assert.Equal(1ul, frame.From);
        }

        Assert.False(members[1].Inbound.TryRead(out _));
        Assert.Equal(SendResult.UnknownPeer, members[0].Send(9, Numbered(1, 0)));
    }

    [Fact]
    public async Task A_symmetric_partition_cuts_both_ways_and_heals()
    {
        var hub = new InMemoryTransportHub(seed: 1);
        var m = await Cluster3(hub);

        hub.Partition([1, 2], [3]);
        m[0].Send(3, Numbered(1, 0));
        m[2].Send(1, Numbered(3, 0));
        m[0].Send(2, Numbered(1, 1));

        Assert.False(m[2].Inbound.TryRead(out _));
        Assert.False(m[0].Inbound.TryRead(out _));
        Assert.True(m[1].Inbound.TryRead(out var inside));
        Assert.Equal((1ul, 1), ParseNumbered(inside.Payload));
        Assert.True(m[0].Status.TryRead(out var down));
        Assert.Equal(new PeerStatus(3, PeerState.Unreachable, PeerDownReason.Partitioned, TimeSpan.Zero), down);
        Assert.Equal(2, hub.FramesDropped);

        hub.Heal();
        m[0].Send(3, Numbered(1, 2));

        Assert.True(m[2].Inbound.TryRead(out var healed));
        Assert.Equal((1ul, 2), ParseNumbered(healed.Payload));
        Assert.Contains(new PeerStatus(3, PeerState.Connected, PeerDownReason.None, TimeSpan.Zero), Drain(m[0]));
    }

    [Fact]
    public async Task A_one_way_block_stops_only_one_direction()
    {
        var hub = new InMemoryTransportHub(seed: 1);
        var m = await Cluster3(hub);

        hub.BlockOneWay(1, 2);
        m[0].Send(2, Numbered(1, 0));
        m[1].Send(1, Numbered(2, 0));

        Assert.False(m[1].Inbound.TryRead(out _));
        Assert.True(m[0].Inbound.TryRead(out var back));
        Assert.Equal((2ul, 0), ParseNumbered(back.Payload));
    }

    [Fact]
    public async Task The_drop_rate_is_seeded_so_the_same_seed_loses_the_same_frames()
    {
        static async Task<List<int>> Run(int seed)
        {
            var hub = new InMemoryTransportHub(seed) { DropRate = 0.3 };
            var m = await Cluster3(hub);
            for (var i = 0; i < 1000; i++)
            {
                m[0].Send(2, Numbered(1, i));
            }

            var got = new List<int>();
            while (m[1].Inbound.TryRead(out var frame))
            {
                got.Add(ParseNumbered(frame.Payload).Sequence);
            }

            Assert.Equal(1000, hub.FramesDelivered + hub.FramesDropped);
            return got;
        }

        var first = await Run(42);
        var again = await Run(42);
        var other = await Run(43);

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.InRange(first.Count, 640, 760); // about 70 % of 1000 arrive
        Assert.Equal(first.Order(), first); // what survives is still in order
    }

    [Fact]
    public async Task Delay_delivers_on_the_injected_clock_in_send_order()
    {
        var time = new FakeTimeProvider();
        var hub = new InMemoryTransportHub(seed: 1, time) { Delay = TimeSpan.FromMilliseconds(50) };
        var m = await Cluster3(hub);

        m[0].Send(2, Numbered(1, 0));
        time.Advance(TimeSpan.FromMilliseconds(20));
        m[2].Send(2, Numbered(3, 0));
        m[0].Send(2, Numbered(1, 1));

        time.Advance(TimeSpan.FromMilliseconds(29));
        Assert.False(m[1].Inbound.TryRead(out _));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(m[1].Inbound.TryRead(out var first));
        Assert.Equal((1ul, 0), ParseNumbered(first.Payload));
        Assert.False(m[1].Inbound.TryRead(out _));
        time.Advance(TimeSpan.FromMilliseconds(20));
        Assert.Equal([(3ul, 0), (1ul, 1)], Drain(m[1].Inbound).Select(f => ParseNumbered(f.Payload)));
    }

    [Fact]
    public async Task A_full_inbound_queue_drops_and_says_so()
    {
        var hub = new InMemoryTransportHub(seed: 1);
        var a = hub.CreateTransport(1);
        var b = hub.CreateTransport(2, inboundCapacity: 2);
        await a.StartAsync();
        await b.StartAsync();
        a.UpdatePeers([2]);

        Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, 0)));
        Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, 1)));
        Assert.Equal(SendResult.QueueFull, a.Send(2, Numbered(1, 2)));
    }

    [Fact]
    public async Task A_stopped_member_is_unreachable_and_can_be_recreated()
    {
        var hub = new InMemoryTransportHub(seed: 1);
        var m = await Cluster3(hub);

        await m[1].StopAsync();
        m[0].Send(2, Numbered(1, 0));

        Assert.Contains(new PeerStatus(2, PeerState.Unreachable, PeerDownReason.ConnectFailed, TimeSpan.Zero), Drain(m[0]));
        var restarted = hub.CreateTransport(2);
        await restarted.StartAsync();
        m[0].Send(2, Numbered(1, 1));
        Assert.True(restarted.Inbound.TryRead(out var frame));
        Assert.Equal((1ul, 1), ParseNumbered(frame.Payload));
    }

    [Fact]
    public async Task Transfers_are_delivered_whole_unless_partitioned()
    {
        var hub = new InMemoryTransportHub(seed: 1);
        var m = await Cluster3(hub);
        var data = new byte[100_000];
        new Random(9).NextBytes(data);

        var result = await m[0].SendTransferAsync(2, new MemoryStream(data));

        Assert.Equal(new TransferResult(TransferStatus.Delivered, data.Length), result);
        Assert.True(m[1].InboundTransfers.TryRead(out var transfer));
        var copy = new MemoryStream();
        await transfer.Content.CopyToAsync(copy);
        Assert.Equal(data, copy.ToArray());

        hub.Partition([1], [2]);
        Assert.Equal(TransferStatus.Unreachable, (await m[0].SendTransferAsync(2, new MemoryStream(data))).Status);
    }

    private static List<PeerStatus> Drain(InMemoryPeerTransport transport)
    {
        var all = new List<PeerStatus>();
        while (transport.Status.TryRead(out var s))
        {
            all.Add(s);
        }

        return all;
    }

    private static List<InboundFrame> Drain(System.Threading.Channels.ChannelReader<InboundFrame> reader)
    {
        var all = new List<InboundFrame>();
        while (reader.TryRead(out var f))
        {
            all.Add(f);
        }

        return all;
    }
}
