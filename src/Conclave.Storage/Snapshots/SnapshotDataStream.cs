namespace Conclave.Storage.Snapshots;

/// <summary>
/// The data part of one snapshot file, read forward only. It checksums what it hands out and,
/// when its reader reaches the end of the data (a read that returns 0), reads the trailer and
/// throws <see cref="SnapshotCorruptException"/> if the trailer is damaged or the checksum does
/// not match. A reader that consumes the stream to its end therefore learns of any damage before
/// it acts on what it read. The caller owns the file (positioned at the data's start) and disposes it.
/// </summary>
internal sealed class SnapshotDataStream : Stream
{
    private readonly FileStream _file;
    private readonly string _path;
    private readonly long _length;
    private long _position;
    private uint _crc;

    public SnapshotDataStream(FileStream file, string path, long dataLength)
    {
        _file = file;
        _path = path;
        _length = dataLength;
    }

    /// <summary>Whether the reader reached the end and the trailer and checksum were found good.</summary>
    public bool Verified { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        var left = _length - _position;
        if (left == 0)
        {
            VerifyTrailer();
            return 0;
        }

        var want = (int)Math.Min(buffer.Length, left);
        var n = _file.Read(buffer[..want]);
        if (n == 0)
        {
            throw new SnapshotCorruptException(_path, "file ended inside its data");
        }

        _crc = Crc32C.Append(_crc, buffer[..n]);
        _position += n;
        return n;
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 0 ? -1 : one[0];
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private void VerifyTrailer()
    {
        if (Verified)
        {
            return;
        }

        Span<byte> trailer = stackalloc byte[SnapshotFormat.TrailerSize];
        if (_file.ReadAtLeast(trailer, trailer.Length, throwOnEndOfStream: false) != trailer.Length)
        {
            throw new SnapshotCorruptException(_path, "file ended inside its trailer");
        }

        if (!trailer[4..].SequenceEqual(SnapshotFormat.EndMagic))
        {
            throw new SnapshotCorruptException(_path, "trailer is damaged");
        }

        if (BitConverter.ToUInt32(trailer) != _crc)
        {
            throw new SnapshotCorruptException(_path, "data checksum mismatch");
        }

        Verified = true;
    }
}
