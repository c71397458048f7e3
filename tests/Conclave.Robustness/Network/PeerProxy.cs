using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Conclave.Robustness.Network;

/// <summary>What the first bytes of a peer connection say about it.</summary>
/// <param name="SourceId">The sending server's id as it appears on the wire, or null when unknown: etcd's
/// X-Server-From (hex), or the sender member id of a Conclave hello formatted as lower-case hex without padding
/// (the way <c>ProcessCluster</c> keys the member ids it learns from response headers).</param>
/// <param name="DataTowardsSource">True when the payload flows from the proxied member back to the dialer
/// (an etcd stream GET: the dialer reads the target's messages from the response body).</param>
/// <param name="BothWays">True when the connection needs both directions to do its job (a Conclave transfer:
/// chunks to the target, an acknowledgement back); it is then allowed only while both are reachable.</param>
public readonly record struct PeerConnectionKind(string? SourceId, bool DataTowardsSource, bool BothWays = false);

/// <summary>
/// A TCP proxy in front of one member's peer port: peers dial the proxy (it is the advertised
/// peer URL) and it forwards to the member's real peer port. Each accepted connection is
/// classified from its first request (<see cref="Classify"/>): when the dialing member is known,
/// the connection is allowed only while <see cref="NetworkConditions.Reachable"/> holds in the
/// direction its payload flows; an unidentified connection is refused only while the target is
/// cut off from everyone. Forbidden connections are refused at accept and closed as soon as the
/// conditions change; no bytes are dropped from a live connection, so framing is never broken.
/// </summary>
public sealed class PeerProxy : IAsyncDisposable
{
    private const int SniffLimit = 4096;
    private static readonly TimeSpan SniffTimeout = TimeSpan.FromMilliseconds(500);

    private readonly TcpListener _listener;
    private readonly int _target;
    private readonly int _targetPort;
    private readonly NetworkConditions _network;
    private readonly Func<string, int?> _resolveSource;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<long, Link> _links = new();
    private readonly Task _acceptLoop;
    private long _nextLink;

    /// <param name="target">The member behind this proxy.</param>
    /// <param name="targetPort">The member's real peer port on 127.0.0.1.</param>
    /// <param name="resolveSource">Maps a wire id (see <see cref="PeerConnectionKind.SourceId"/>) to a member index; null = unknown.</param>
    public PeerProxy(int target, int listenPort, int targetPort, NetworkConditions network, Func<string, int?> resolveSource)
    {
        _target = target;
        _targetPort = targetPort;
        _network = network;
        _resolveSource = resolveSource;
        _listener = new TcpListener(IPAddress.Loopback, listenPort);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _network.Changed += Enforce;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>Connections refused or closed because of the network conditions, since start.</summary>
    public long Cut => Interlocked.Read(ref _cut);

    private long _cut;

    // Conclave's hello (docs/transport.md): a frame header (u32 LE length = 1 + payload, u32 LE crc32c, u8 kind 1),
    // then u32 LE magic "CNCL", u16 LE version 1, u8 purpose (1 messages, 2 transfer), u64 LE cluster id,
    // u64 LE sender member id, u64 LE target member id. Re-stated here: the server's types are internal.
    private const int FrameHeaderSize = 9;
    private const byte HelloKind = 1;
    private const uint HelloMagic = 0x4C434E43;
    private const ushort HelloVersion = 1;
    private const int HelloPayloadSize = 4 + 2 + 1 + 8 + 8 + 8;
    private const int MaxHelloFrameLength = 256;
    private const byte PurposeMessages = 1;
    private const byte PurposeTransfer = 2;

    /// <summary>
    /// Reads the wire id and direction from the first bytes of a peer connection. A Conclave hello frame
    /// (version 1, purpose messages or transfer) yields its sender member id in hex; a messages connection
    /// carries data from the dialer to the target only, a transfer needs both ways. An etcd rafthttp request
    /// head yields X-Server-From ("GET /raft/stream/..." flows towards the dialer). Anything else (a
    /// truncated or foreign hello, a TLS hello, garbage) yields an unknown source.
    /// </summary>
    public static PeerConnectionKind Classify(ReadOnlySpan<byte> head)
    {
        if (HelloFrameLength(head) is > 0 and var frameLength && head.Length >= frameLength)
        {
            var payload = head[FrameHeaderSize..frameLength];
            if (head[8] == HelloKind
                && payload.Length >= HelloPayloadSize
                && BinaryPrimitives.ReadUInt32LittleEndian(payload) == HelloMagic
                && BinaryPrimitives.ReadUInt16LittleEndian(payload[4..]) == HelloVersion
                && payload[6] is PurposeMessages or PurposeTransfer)
            {
                var sender = BinaryPrimitives.ReadUInt64LittleEndian(payload[15..]);
                return new PeerConnectionKind(
                    sender.ToString("x", System.Globalization.CultureInfo.InvariantCulture),
                    DataTowardsSource: false,
                    BothWays: payload[6] == PurposeTransfer);
            }

            return new PeerConnectionKind(null, false);
        }

        var text = Encoding.ASCII.GetString(head);
        var stream = text.StartsWith("GET /raft/stream/", StringComparison.Ordinal);
        foreach (var line in text.Split("\r\n"))
        {
            if (line.StartsWith("X-Server-From:", StringComparison.OrdinalIgnoreCase))
            {
                return new PeerConnectionKind(line["X-Server-From:".Length..].Trim(), stream);
            }
        }

        return new PeerConnectionKind(null, stream);
    }

    /// <summary>
    /// The total byte count of the frame <paramref name="head"/> starts with if it can be a Conclave hello
    /// (header plus a length field within the pre-handshake limit), 0 while fewer than 4 bytes are known, -1 otherwise.
    /// An HTTP request line never qualifies: its first four bytes read as a length far above the limit.
    /// </summary>
    public static int HelloFrameLength(ReadOnlySpan<byte> head)
    {
        if (head.Length < 4)
        {
            return 0;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(head);
        return length is >= 1 and <= MaxHelloFrameLength ? FrameHeaderSize - 1 + (int)length : -1;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = HandleAsync(client);
        }
    }

    private async Task HandleAsync(Socket client)
    {
        client.NoDelay = true;
        var head = new byte[SniffLimit];
        var length = 0;
        using (var sniff = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
        {
            sniff.CancelAfter(SniffTimeout);
            try
            {
                // Until an HTTP request head is complete, or exactly the bytes of a Conclave hello frame (the
                // dialer then waits for the reply, so nothing of the stream after it is read here).
                while (length < head.Length && head.AsSpan(0, length).IndexOf("\r\n\r\n"u8) < 0)
                {
                    var frameLength = HelloFrameLength(head.AsSpan(0, length));
                    if (frameLength > 0 && length >= frameLength)
                    {
                        break;
                    }

                    var want = frameLength > 0 ? frameLength - length : head.Length - length;
                    var read = await client.ReceiveAsync(head.AsMemory(length, want), SocketFlags.None, sniff.Token);
                    if (read == 0)
                    {
                        client.Dispose();
                        return;
                    }

                    length += read;
                }
            }
            catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
            {
                // The dialer waits for the server to speak first, or sent less than a request head: unknown source.
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                client.Dispose();
                return;
            }
        }

        var kind = Classify(head.AsSpan(0, length));
        var link = new Link(Interlocked.Increment(ref _nextLink), client, kind);
        if (!Allowed(link))
        {
            Interlocked.Increment(ref _cut);
            client.Dispose();
            return;
        }

        var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        link.Upstream = upstream;
        _links[link.Id] = link;
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            if (length > 0)
            {
                await upstream.SendAsync(head.AsMemory(0, length), SocketFlags.None, _stop.Token);
            }

            // Conditions may have changed while connecting.
            if (!Allowed(link))
            {
                Interlocked.Increment(ref _cut);
                return;
            }

            await Task.WhenAll(PumpAsync(client, upstream, link), PumpAsync(upstream, client, link));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Member down, proxy stopping, or the link was cut.
        }
        finally
        {
            _links.TryRemove(link.Id, out _);
            link.Close();
        }
    }

    private async Task PumpAsync(Socket from, Socket to, Link link)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                var delay = _network.Delay;
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, _stop.Token);
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            link.Close();
        }
    }

    private bool Allowed(Link link)
    {
        var source = link.Kind.SourceId is { } id ? _resolveSource(id) : null;
        if (source is not { } from)
        {
            return !_network.FullyCutOffInbound(_target);
        }

        if (link.Kind.BothWays)
        {
            return _network.Reachable(_target, from) && _network.Reachable(from, _target);
        }

        return link.Kind.DataTowardsSource ? _network.Reachable(_target, from) : _network.Reachable(from, _target);
    }

    private void Enforce()
    {
        foreach (var link in _links.Values)
        {
            if (!Allowed(link))
            {
                Interlocked.Increment(ref _cut);
                link.Close();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _network.Changed -= Enforce;
        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        foreach (var link in _links.Values)
        {
            link.Close();
        }

        _stop.Dispose();
    }

    private sealed class Link(long id, Socket client, PeerConnectionKind kind)
    {
        private int _closed;

        public long Id { get; } = id;

        public Socket Client { get; } = client;

        public Socket? Upstream { get; set; }

        public PeerConnectionKind Kind { get; } = kind;

        /// <summary>Idempotent; closing either socket ends both pumps.</summary>
        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
            {
                return;
            }

            Client.Dispose();
            Upstream?.Dispose();
        }
    }
}
