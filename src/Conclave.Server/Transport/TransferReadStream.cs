using System.Buffers.Binary;

namespace Conclave.Server.Transport;

/// <summary>
/// The receiving end of a transfer connection as a read-only stream: each read pulls chunk frames off
/// the socket only as the consumer asks, so TCP flow control holds the sender back. The end frame is
/// checked against the byte count, then acknowledged. <see cref="Finished"/> completes with null when
/// the transfer was read to its end and acknowledged, or with the problem when it failed or was abandoned.
/// </summary>
internal sealed class TransferReadStream : Stream
{
    private readonly Stream _connection;
    private readonly FrameReader _reader;
    private readonly ulong _from;
    private readonly int _maxFrame;
    private readonly CancellationToken _stopping;
    private readonly TaskCompletionSource<string?> _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[] _chunk = [];
    private int _offset;
    private bool _ended;

    public TransferReadStream(Stream connection, ulong from, int maxFrame, CancellationToken stopping)
    {
        _connection = connection;
        _reader = new FrameReader(connection);
        _from = from;
        _maxFrame = maxFrame;
        _stopping = stopping;
    }

    public Task<string?> Finished => _finished.Task;

    public long BytesReceived { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_ended || buffer.Length == 0)
        {
            return 0;
        }

        while (_offset == _chunk.Length)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping);
            FrameRead frame;
            try
            {
                frame = await _reader.ReadAsync(_maxFrame, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
                throw Fail($"the connection failed ({e.Message})", e);
            }

            if (frame.Status != FrameReadStatus.Frame)
            {
                throw Fail($"a bad frame ({frame.Status}, length {frame.Length})");
            }

            switch (frame.Kind)
            {
                case FrameKind.Chunk:
                    _chunk = frame.Payload;
                    _offset = 0;
                    BytesReceived += frame.Payload.Length;
                    break;
                case FrameKind.ChunkEnd when frame.Payload.Length == 8:
                    var total = BinaryPrimitives.ReadInt64LittleEndian(frame.Payload);
                    if (total != BytesReceived)
                    {
                        throw Fail($"the sender sent {total} bytes but {BytesReceived} arrived");
                    }

                    await _connection.WriteAsync(Frame.Encode(FrameKind.TransferAck, [0]), linked.Token).ConfigureAwait(false);
                    _ended = true;
                    _finished.TrySetResult(null);
                    return 0;
                default:
                    throw Fail($"an unexpected frame of kind {(byte)frame.Kind}");
            }
        }

        var n = Math.Min(buffer.Length, _chunk.Length - _offset);
        _chunk.AsMemory(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Blocks a thread until data arrives; prefer <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>.</summary>
    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Disposing before the end abandons the transfer: the connection is closed without an acknowledgement.</summary>
    protected override void Dispose(bool disposing)
    {
        _finished.TrySetResult(_ended ? null : "abandoned by the reader");
        base.Dispose(disposing);
    }

    private IOException Fail(string problem, Exception? inner = null)
    {
        var message = $"transport: transfer from member {_from} failed: {problem}";
        _finished.TrySetResult(problem);
        return new IOException(message, inner);
    }
}
