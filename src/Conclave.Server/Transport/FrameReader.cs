using System.Buffers.Binary;

namespace Conclave.Server.Transport;

internal enum FrameReadStatus
{
    Frame,

    /// <summary>The peer closed the connection cleanly between two frames.</summary>
    EndOfStream,

    /// <summary>The length prefix exceeds the limit (nothing was allocated for it).</summary>
    TooLarge,

    /// <summary>A zero length prefix (a frame needs at least its kind byte).</summary>
    Empty,
    BadChecksum,
}

/// <summary>A frame as read: on <see cref="FrameReadStatus.Frame"/> the payload is a new array owned by the caller.</summary>
internal readonly record struct FrameRead(FrameReadStatus Status, FrameKind Kind, byte[] Payload, uint Length);

/// <summary>
/// Reads frames from a stream (buffered by the caller). A length prefix above the limit is reported
/// before anything is allocated for it. I/O failures and a connection closed mid-frame throw.
/// </summary>
internal sealed class FrameReader
{
    private readonly Stream _stream;
    private readonly byte[] _header = new byte[Frame.HeaderSize];

    public FrameReader(Stream stream)
    {
        _stream = stream;
    }

    /// <param name="maxLength">The largest allowed length prefix (kind byte + payload).</param>
    public async ValueTask<FrameRead> ReadAsync(int maxLength, CancellationToken cancellationToken)
    {
        var got = await _stream.ReadAtLeastAsync(_header, _header.Length, throwOnEndOfStream: false, cancellationToken);
        if (got == 0)
        {
            return new FrameRead(FrameReadStatus.EndOfStream, 0, [], 0);
        }

        if (got < _header.Length)
        {
            throw new EndOfStreamException("transport: connection closed inside a frame header");
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(_header);
        if (length == 0)
        {
            return new FrameRead(FrameReadStatus.Empty, 0, [], 0);
        }

        if (length > (uint)maxLength)
        {
            return new FrameRead(FrameReadStatus.TooLarge, 0, [], length);
        }

        var kind = (FrameKind)_header[8];
        var payload = length == 1 ? [] : new byte[length - 1];
        await _stream.ReadExactlyAsync(payload, cancellationToken);
        var expected = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(4));
        if (Frame.Checksum(kind, payload) != expected)
        {
            return new FrameRead(FrameReadStatus.BadChecksum, kind, [], length);
        }

        return new FrameRead(FrameReadStatus.Frame, kind, payload, length);
    }
}
