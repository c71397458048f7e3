using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Conclave.Server.Transport;
using Conclave.Storage;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// Raw TCP bytes into a member's peer listener (<see cref="TcpPeerTransport"/>): garbage, a valid
/// hello followed by corrupted frames, oversized and zero length prefixes, truncated frames. The
/// listener must close each such connection, deliver no frame that was not sent intact (every
/// frame is checksummed), allocate nothing for a huge declared length, and still accept a real
/// peer afterwards. Frames are built here from the wire format in docs/transport.md:
/// u32 LE length (kind + payload), u32 LE crc32c (kind + payload), u8 kind, payload.
/// </summary>
[Collection(nameof(TransportFuzzTests))]
public sealed class TransportFuzzTests
{
    private const ulong ClusterId = 0xC1C1;
    private const ulong TargetId = 2;
    private const ulong SenderId = 1;
    private const byte KindHello = 1;
    private const byte KindMessage = 3;
    private const int MaxFrameBytes = 64 * 1024;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>Payloads a real sender delivered (a retry may arrive late, during a later case).</summary>
    private readonly HashSet<string> _realPayloads = [];

    [Fact]
    public async Task Corrupted_peer_streams_are_closed_deliver_nothing_damaged_and_the_listener_keeps_working()
    {
        await using var target = new TcpPeerTransport(Options(TargetId));
        await using var sender = new TcpPeerTransport(Options(SenderId));
        await Task.WhenAll(target.StartAsync(), sender.StartAsync());
        sender.UpdatePeers(new Dictionary<ulong, EndPoint> { [TargetId] = target.LocalEndPoint! });
        var closedByListener = 0;

        // A member reads every transfer a hello with the transfer purpose opens; so does this test, to the
        // end or to the transport's error for a damaged one.
        using var stop = new CancellationTokenSource();
        var transfers = Task.Run(async () =>
        {
            await foreach (var transfer in target.InboundTransfers.ReadAllAsync(stop.Token))
            {
                await using (transfer.Content)
                {
                    try
                    {
                        await transfer.Content.CopyToAsync(Stream.Null, stop.Token);
                    }
                    catch (IOException)
                    {
                    }
                }
            }
        });

        await Fuzz.RunAsync(300, async rng =>
        {
            var payloads = Enumerable.Range(0, 1 + rng.Next(3)).Select(_ => Mutator.RandomBytes(rng, 1 + rng.Next(200))).ToList();
            var valid = new List<byte>(Hello(rng.Next(8) == 0 ? (byte)2 : (byte)1));
            foreach (var p in payloads)
            {
                valid.AddRange(Frame(KindMessage, p));
            }

            var (input, what) = Damage(rng, [.. valid]);
            var closed = await SendAndWaitForCloseAsync(target.LocalEndPoint!, input, halfClose: rng.Next(4) != 0);
            closedByListener += closed ? 1 : 0;

            // Whatever arrived must be one of the intact frames, from the member the hello named.
            while (target.Inbound.TryRead(out var frame))
            {
                Assert.Equal(SenderId, frame.From);
                Assert.True(payloads.Any(p => p.AsSpan().SequenceEqual(frame.Payload.Span)) || _realPayloads.Contains(Convert.ToHexString(frame.Payload.Span)), $"after {what} the listener delivered a frame that was never sent: {Fuzz.Hex(frame.Payload.Span)}");
            }

            if (rng.Next(20) == 0)
            {
                await AssertStillServesAsync(sender, target, rng);
            }
        });

        await AssertStillServesAsync(sender, target, new Random(1));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => transfers);
        Assert.True(closedByListener > 0 || Fuzz.Iterations(300) < 50, "the listener never closed a connection by itself");
    }

    [Fact]
    public async Task A_4_GB_length_prefix_after_a_valid_hello_closes_the_connection_without_allocating_it()
    {
        await using var target = new TcpPeerTransport(Options(TargetId));
        await target.StartAsync();
        foreach (var declared in new[] { uint.MaxValue, (uint)int.MaxValue, (uint)MaxFrameBytes + 1 })
        {
            var header = new byte[9];
            BinaryPrimitives.WriteUInt32LittleEndian(header, declared);
            header[8] = KindMessage;
            var before = GC.GetTotalAllocatedBytes(precise: true);
            Assert.True(await SendAndWaitForCloseAsync(target.LocalEndPoint!, [.. Hello(1), .. header, .. new byte[64]], halfClose: false), $"a {declared}-byte length prefix should close the connection");
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Assert.True(allocated < 4 * 1024 * 1024, $"a {declared}-byte length prefix allocated {allocated} bytes");
        }

        Assert.False(target.Inbound.TryRead(out _));
    }

    private static TcpPeerTransportOptions Options(ulong id) => new()
    {
        ClusterId = ClusterId,
        LocalId = id,
        ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        MaxFrameBytes = MaxFrameBytes,
        RandomSeed = 1,
        ReconnectBaseDelay = TimeSpan.FromMilliseconds(10),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(100),
    };

    private static byte[] Hello(byte purpose)
    {
        var p = new byte[31];
        BinaryPrimitives.WriteUInt32LittleEndian(p, 0x4C434E43);
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(4), TcpPeerTransport.ProtocolVersion);
        p[6] = purpose;
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(7), ClusterId);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(15), SenderId);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(23), TargetId);
        return Frame(KindHello, p);
    }

    private static byte[] Frame(byte kind, ReadOnlySpan<byte> payload)
    {
        var f = new byte[9 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(f, (uint)(payload.Length + 1));
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(4), Crc32C.Append(Crc32C.Compute([kind]), payload));
        f[8] = kind;
        payload.CopyTo(f.AsSpan(9));
        return f;
    }

    /// <summary>Damages the byte stream of a connection; returns it with a description for failure messages.</summary>
    private static (byte[] Bytes, string What) Damage(Random rng, byte[] valid)
    {
        const int helloEnd = 9 + 31;
        switch (rng.Next(6))
        {
            case 0:
                return (Mutator.RandomBytes(rng, rng.Next(300)), "random garbage");
            case 1:
                {
                    var at = rng.Next(valid.Length);
                    return (valid[..at], $"truncation at byte {at}");
                }

            case 2:
                {
                    // A frame after the hello with a length prefix beyond the limit (up to 4 GB).
                    var header = new byte[9];
                    BinaryPrimitives.WriteUInt32LittleEndian(header, rng.Next(2) == 0 ? uint.MaxValue : (uint)(MaxFrameBytes + 1 + rng.Next(1 << 20)));
                    header[8] = KindMessage;
                    return ([.. valid[..helloEnd], .. header, .. valid[helloEnd..]], "an oversized length prefix");
                }

            case 3:
                {
                    // One byte of a frame after the hello changed: its checksum must catch it.
                    var copy = valid.ToArray();
                    var at = helloEnd + rng.Next(valid.Length - helloEnd);
                    copy[at] ^= (byte)(1 + rng.Next(255));
                    return (copy, $"byte {at} changed");
                }

            default:
                return (Mutator.Mutate(rng, valid), "mutation");
        }
    }

    /// <summary>
    /// Connects, writes <paramref name="bytes"/>, optionally half-closes, then reads until the listener
    /// closes. Returns true when the listener closed first; false when it waited for more input
    /// (a valid or incomplete stream) and the test closed after a half-close made that moot.
    /// </summary>
    private static async Task<bool> SendAndWaitForCloseAsync(IPEndPoint endPoint, byte[] bytes, bool halfClose)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint);
        try
        {
            await socket.SendAsync(bytes);
        }
        catch (SocketException)
        {
            return true; // Reset while writing: the listener already closed.
        }

        if (halfClose)
        {
            socket.Shutdown(SocketShutdown.Send);
        }

        using var timeout = new CancellationTokenSource(halfClose ? Deadline : TimeSpan.FromMilliseconds(100));
        var buffer = new byte[4096];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException) when (!halfClose)
        {
            return false; // The stream was acceptable so far; the listener waits for more, as it should.
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"expected the listener to close a connection that ended after {bytes.Length} bytes within {Deadline.TotalSeconds} s");
        }
    }

    private async Task AssertStillServesAsync(TcpPeerTransport sender, TcpPeerTransport target, Random rng)
    {
        var payload = Mutator.RandomBytes(rng, 16);
        _realPayloads.Add(Convert.ToHexString(payload));
        using var timeout = new CancellationTokenSource(Deadline);
        while (true)
        {
            Assert.Equal(SendResult.Queued, sender.Send(TargetId, payload));
            try
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
                wait.CancelAfter(TimeSpan.FromMilliseconds(500));
                while (true)
                {
                    var frame = await target.Inbound.ReadAsync(wait.Token);
                    if (frame.From == SenderId && frame.Payload.Span.SequenceEqual(payload))
                    {
                        return;
                    }
                }
            }
            catch (OperationCanceledException) when (!timeout.IsCancellationRequested)
            {
                // Not delivered yet (the sender may be reconnecting): send again.
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"expected a real peer's frame to reach the listener within {Deadline.TotalSeconds} s after the fuzzed connections");
            }
        }
    }
}

/// <summary>Runs the transport tests alone: the allocation check reads a process-wide counter.</summary>
[CollectionDefinition(nameof(TransportFuzzTests), DisableParallelization = true)]
public sealed class TransportFuzzCollection;
