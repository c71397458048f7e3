using System.Security.Cryptography;
using Conclave.Server.Transport;
using Microsoft.Extensions.Time.Testing;
using static Conclave.Server.Tests.Transport.TestKit;

namespace Conclave.Server.Tests.Transport;

public sealed class TransferTests
{
    [Fact]
    public async Task A_64_MiB_transfer_arrives_intact_while_small_frames_keep_flowing()
    {
        var time = new FakeTimeProvider();
        await using var a = new TcpPeerTransport(Options(1), time);
        await using var b = new TcpPeerTransport(Options(2), time);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        a.UpdatePeers(Peers((2, b)));
        var snapshot = new byte[64 * 1024 * 1024];
        new Random(64).NextBytes(snapshot);

        var sending = a.SendTransferAsync(2, new MemoryStream(snapshot));
        await using var transfer = await b.InboundTransfers.ReadAsync().AsTask().Within("the transfer to reach member 2");
        Assert.Equal(1ul, transfer.From);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        var received = 0L;
        while (received < 1024 * 1024)
        {
            var n = await transfer.Content.ReadAsync(buffer).AsTask().Within("the first MiB of the transfer");
            hash.AppendData(buffer, 0, n);
            received += n;
        }

        // The transfer is stalled part way (member 2 stopped reading it); frames still get through.
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(SendResult.Queued, a.Send(2, Numbered(1, i)));
        }

        for (var i = 0; i < 200; i++)
        {
            Assert.Equal((1ul, i), ParseNumbered((await b.Inbound.NextFrame($"small frame {i} during the transfer")).Payload));
        }

        Assert.False(sending.IsCompleted);
        int read;
        while ((read = await transfer.Content.ReadAsync(buffer).AsTask().Within("the rest of the transfer")) > 0)
        {
            hash.AppendData(buffer, 0, read);
            received += read;
        }

        var result = await sending.Within("the sender to see the transfer acknowledged");
        Assert.Equal(new TransferResult(TransferStatus.Delivered, snapshot.Length), result);
        Assert.Equal(snapshot.Length, received);
        Assert.Equal(SHA256.HashData(snapshot), hash.GetHashAndReset());
    }

    [Fact]
    public async Task A_receiver_that_gives_up_fails_the_transfer_on_the_sending_side()
    {
        var time = new FakeTimeProvider();
        await using var a = new TcpPeerTransport(Options(1), time);
        await using var b = new TcpPeerTransport(Options(2), time);
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        a.UpdatePeers(Peers((2, b)));

        var sending = a.SendTransferAsync(2, new MemoryStream(new byte[16 * 1024 * 1024]));
        var transfer = await b.InboundTransfers.ReadAsync().AsTask().Within("the transfer to reach member 2");
        await transfer.Content.ReadExactlyAsync(new byte[1000]);
        await transfer.DisposeAsync();

        var result = await sending.Within("the sender to see the transfer fail");
        Assert.Equal(TransferStatus.Failed, result.Status);
    }

    [Fact]
    public async Task A_transfer_to_an_unknown_member_or_another_cluster_is_not_delivered()
    {
        var time = new FakeTimeProvider();
        await using var a = new TcpPeerTransport(Options(1), time);
        await using var other = new TcpPeerTransport(Options(2, cluster: 0xBAD), time);
        await Task.WhenAll(a.StartAsync(), other.StartAsync());
        a.UpdatePeers(Peers((2, other)));

        Assert.Equal(TransferStatus.UnknownPeer, (await a.SendTransferAsync(3, new MemoryStream([1]))).Status);
        Assert.Equal(TransferStatus.Refused, (await a.SendTransferAsync(2, new MemoryStream([1])).Within("a refusal")).Status);
    }
}
