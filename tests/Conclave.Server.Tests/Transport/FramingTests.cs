using System.Text;
using Conclave.Server.Transport;
using Conclave.Storage;

namespace Conclave.Server.Tests.Transport;

public sealed class FramingTests
{
    [Fact]
    public void Crc32C_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    [Fact]
    public void Crc32C_computed_in_pieces_equals_computed_at_once()
    {
        var random = new Random(11);
        for (var i = 0; i < 500; i++)
        {
            var data = new byte[random.Next(0, 300)];
            random.NextBytes(data);
            var cut = random.Next(0, data.Length + 1);
            var pieces = Crc32C.Append(Crc32C.Compute(data.AsSpan(0, cut)), data.AsSpan(cut));
            Assert.Equal(Crc32C.Compute(data), pieces);
        }
    }

    [Fact]
    public async Task Frames_written_then_read_come_back_unchanged()
    {
        var random = new Random(5);
        for (var round = 0; round < 200; round++)
        {
            var payloads = Enumerable.Range(0, random.Next(1, 9)).Select(_ =>
            {
                var p = new byte[random.Next(0, 2000)];
                random.NextBytes(p);
                return p;
            }).ToList();
            var stream = new MemoryStream();
            foreach (var p in payloads)
            {
                stream.Write(Frame.Encode(FrameKind.Message, p));
            }

            stream.Position = 0;
            var reader = new FrameReader(stream);
            foreach (var p in payloads)
            {
                var frame = await reader.ReadAsync(4096, CancellationToken.None);
                Assert.Equal(FrameReadStatus.Frame, frame.Status);
                Assert.Equal(FrameKind.Message, frame.Kind);
                Assert.Equal(p, frame.Payload);
            }

            Assert.Equal(FrameReadStatus.EndOfStream, (await reader.ReadAsync(4096, CancellationToken.None)).Status);
        }
    }

    [Fact]
    public async Task A_length_prefix_over_the_limit_is_reported_without_reading_the_payload()
    {
        var bytes = Frame.Encode(FrameKind.Message, new byte[5000]);
        var stream = new MemoryStream(bytes);

        var frame = await new FrameReader(stream).ReadAsync(4096, CancellationToken.None);

        Assert.Equal(FrameReadStatus.TooLarge, frame.Status);
        Assert.Equal(5001u, frame.Length);
        Assert.Equal(Frame.HeaderSize, stream.Position);
    }

    [Fact]
    public async Task A_flipped_payload_bit_is_caught_by_the_checksum()
    {
        var bytes = Frame.Encode(FrameKind.Message, Encoding.ASCII.GetBytes("append entries"));
        bytes[^3] ^= 0x10;

        var frame = await new FrameReader(new MemoryStream(bytes)).ReadAsync(4096, CancellationToken.None);

        Assert.Equal(FrameReadStatus.BadChecksum, frame.Status);
    }

    [Fact]
    public async Task A_connection_closed_inside_a_header_is_an_io_error()
    {
        var bytes = Frame.Encode(FrameKind.Message, [1, 2, 3]).AsSpan(0, 5).ToArray();

        await Assert.ThrowsAsync<EndOfStreamException>(
            () => new FrameReader(new MemoryStream(bytes)).ReadAsync(4096, CancellationToken.None).AsTask());
    }

    [Fact]
    public void Hello_round_trips_and_anything_else_is_not_a_hello()
    {
        var hello = new Hello(TcpPeerTransport.ProtocolVersion, ConnectionPurpose.Transfer, 0xABCDEF, 3, 7);
        var encoded = hello.Encode();

        Assert.True(Hello.TryDecode(encoded.AsSpan(Frame.HeaderSize), out var decoded));
        Assert.Equal(hello, decoded);
        Assert.False(Hello.TryDecode(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n"), out _));
    }

    [Fact]
    public void Backoff_doubles_with_jitter_up_to_the_maximum_and_repeats_for_a_seed()
    {
        var baseDelay = TimeSpan.FromMilliseconds(100);
        var max = TimeSpan.FromSeconds(2);
        var first = new ReconnectBackoff(baseDelay, max, seed: 7);
        var second = new ReconnectBackoff(baseDelay, max, seed: 7);
        var delays = Enumerable.Range(0, 12).Select(_ => first.Next()).ToList();

        for (var n = 0; n < delays.Count; n++)
        {
            var ceiling = TimeSpan.FromTicks(Math.Min(max.Ticks, baseDelay.Ticks << n));
            Assert.InRange(delays[n], ceiling / 2, ceiling);
            Assert.Equal(delays[n], second.Next());
        }

        first.Reset();
        Assert.InRange(first.Next(), baseDelay / 2, baseDelay);
    }
}
