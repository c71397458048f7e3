using System.Text;

namespace Conclave.Serve;

/// <summary>
/// Rewrites, in the HPACK header blocks one client sends on one HTTP/2 connection, an :authority
/// that is a URL ("http://127.0.0.1:2379", what etcdctl 3.4 sends for an endpoint given with a
/// scheme, e.g. every client URL of `--cluster`) to its host:port, which Kestrel accepts; Kestrel
/// resets any stream whose :authority is not a valid Host, while etcd's Go server ignores it.
/// Every other field is copied byte for byte.
/// <para>
/// Contract: one instance per connection, fed every header block of that connection in order (it
/// mirrors the client's dynamic table to find :authority fields named by a dynamic index). A
/// rewritten value is always shorter than the original, so the server's dynamic table holds
/// entries no larger than the client's and evicts no sooner: every index the client uses still
/// names the same entry on the server.
/// </para>
/// </summary>
internal sealed class HpackAuthorityRewriter
{
    /// <summary>Names of the static table (RFC 7541 Appendix A), index 1 first.</summary>
    private static readonly string[] StaticNames =
    [
        ":authority", ":method", ":method", ":path", ":path", ":scheme", ":scheme", ":status", ":status",
        ":status", ":status", ":status", ":status", ":status", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "accept", "access-control-allow-origin", "age", "allow",
        "authorization", "cache-control", "content-disposition", "content-encoding", "content-language",
        "content-length", "content-location", "content-range", "content-type", "cookie", "date", "etag",
        "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
        "if-unmodified-since", "last-modified", "link", "location", "max-forwards", "proxy-authenticate",
        "proxy-authorization", "range", "referer", "refresh", "retry-after", "server", "set-cookie",
        "strict-transport-security", "transfer-encoding", "user-agent", "vary", "via", "www-authenticate",
    ];

    private const string Authority = ":authority";

    /// <summary>The client's dynamic table as the client sizes it: newest first (index 62 = [0]).</summary>
    private readonly LinkedList<(string Name, int Size)> _dynamic = new();
    private int _dynamicSize;
    private int _maxDynamicSize = 4096;

    /// <summary>
    /// Rewrites one complete header block. Null when the block is not valid HPACK for this
    /// connection; the caller then stops rewriting and lets the server reject the stream as usual.
    /// </summary>
    public byte[]? Rewrite(ReadOnlySpan<byte> block)
    {
        var output = new List<byte>(block.Length + 16);
        var position = 0;
        while (position < block.Length)
        {
            var start = position;
            var first = block[position];
            if ((first & 0x80) != 0)
            {
                if (!TryReadInteger(block, ref position, 7, out _))
                {
                    return null;
                }
                Copy(block, start, position, output);
            }
            else if ((first & 0xE0) == 0x20)
            {
                if (!TryReadInteger(block, ref position, 5, out var size))
                {
                    return null;
                }
                _maxDynamicSize = (int)Math.Min(size, int.MaxValue);
                Evict(0);
                Copy(block, start, position, output);
            }
            else
            {
                var indexed = (first & 0xC0) == 0x40;
                if (!TryReadInteger(block, ref position, indexed ? 6 : 4, out var nameIndex))
                {
                    return null;
                }
                string? name;
                if (nameIndex == 0)
                {
                    name = TryReadString(block, ref position, out var nameBytes) ? Encoding.Latin1.GetString(nameBytes) : null;
                }
                else
                {
                    name = NameAt(nameIndex);
                }
                var valueStart = position;
                if (name is null || !TryReadString(block, ref position, out var value))
                {
                    return null;
                }
                Copy(block, start, valueStart, output);
                if (name == Authority && HostPortOf(value) is { } hostPort)
                {
                    WriteInteger(output, 0x00, 7, hostPort.Length);
                    output.AddRange(hostPort);
                }
                else
                {
                    Copy(block, valueStart, position, output);
                }
                if (indexed)
                {
                    Add(name, Encoding.Latin1.GetByteCount(name) + value.Length + 32);
                }
            }
        }
        return [.. output];
    }

    /// <summary>The host:port of an authority given as a URL (scheme://host:port[/path]); null for any other value.</summary>
    internal static byte[]? HostPortOf(byte[] value)
    {
        var text = Encoding.Latin1.GetString(value);
        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            return null;
        }
        var rest = text[(schemeEnd + 3)..];
        var pathStart = rest.IndexOf('/', StringComparison.Ordinal);
        var hostPort = pathStart < 0 ? rest : rest[..pathStart];
        return hostPort.Length == 0 ? null : Encoding.Latin1.GetBytes(hostPort);
    }

    private string? NameAt(ulong index)
    {
        if (index <= (ulong)StaticNames.Length)
        {
            return StaticNames[index - 1];
        }
        var dynamicIndex = index - (ulong)StaticNames.Length - 1;
        if (dynamicIndex >= (ulong)_dynamic.Count)
        {
            return null;
        }
        return _dynamic.ElementAt((int)dynamicIndex).Name;
    }

    private void Add(string name, int size)
    {
        Evict(size);
        if (size <= _maxDynamicSize)
        {
            _dynamic.AddFirst((name, size));
            _dynamicSize += size;
        }
    }

    /// <summary>Evicts the oldest entries until <paramref name="room"/> more octets fit (or the table is empty).</summary>
    private void Evict(int room)
    {
        while (_dynamic.Last is { } oldest && _dynamicSize + room > _maxDynamicSize)
        {
            _dynamicSize -= oldest.Value.Size;
            _dynamic.RemoveLast();
        }
    }

    private static void Copy(ReadOnlySpan<byte> block, int from, int to, List<byte> output)
    {
        foreach (var b in block[from..to])
        {
            output.Add(b);
        }
    }

    /// <summary>Reads an HPACK integer with an N-bit prefix (RFC 7541 section 5.1).</summary>
    private static bool TryReadInteger(ReadOnlySpan<byte> block, ref int position, int prefixBits, out ulong value)
    {
        var mask = (1 << prefixBits) - 1;
        value = (ulong)(block[position] & mask);
        position++;
        if (value < (ulong)mask)
        {
            return true;
        }
        var shift = 0;
        while (position < block.Length && shift <= 56)
        {
            var b = block[position++];
            value += (ulong)(b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Reads a string literal (RFC 7541 section 5.2), Huffman-decoded when it is coded so.</summary>
    private static bool TryReadString(ReadOnlySpan<byte> block, ref int position, out byte[] value)
    {
        value = [];
        if (position >= block.Length)
        {
            return false;
        }
        var huffman = (block[position] & 0x80) != 0;
        if (!TryReadInteger(block, ref position, 7, out var length) || length > (ulong)(block.Length - position))
        {
            return false;
        }
        var raw = block.Slice(position, (int)length);
        position += (int)length;
        if (!huffman)
        {
            value = raw.ToArray();
            return true;
        }
        return HpackHuffman.TryDecode(raw, out value);
    }

    private static void WriteInteger(List<byte> output, byte flags, int prefixBits, int value)
    {
        var mask = (1 << prefixBits) - 1;
        if (value < mask)
        {
            output.Add((byte)(flags | value));
            return;
        }
        output.Add((byte)(flags | mask));
        value -= mask;
        while (value >= 0x80)
        {
            output.Add((byte)((value & 0x7F) | 0x80));
            value >>= 7;
        }
        output.Add((byte)value);
    }
}
