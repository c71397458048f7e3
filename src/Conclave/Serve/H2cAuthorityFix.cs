using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Conclave.Serve;

/// <summary>
/// Connection middleware for the h2c client listeners: passes what the client sends through an
/// <see cref="HpackAuthorityRewriter"/> before Kestrel parses it, so that a request whose
/// :authority is a URL (etcdctl 3.4 with `--cluster` or `--endpoints http://...`) is served as etcd
/// serves it instead of being reset with PROTOCOL_ERROR ("Invalid Host header"). Only HEADERS
/// frames that end their header block are rewritten; a block continued in CONTINUATION frames is
/// passed on as it is (and still mirrored). What the server sends is not touched.
/// </summary>
internal static class H2cAuthorityFix
{
    private const int FrameHeaderLength = 9;
    private const byte HeadersType = 0x1;
    private const byte ContinuationType = 0x9;
    private const byte EndHeaders = 0x4;
    private const byte Padded = 0x8;
    private const byte Priority = 0x20;

    /// <summary>Kestrel's default SETTINGS_MAX_FRAME_SIZE: a rewritten frame never grows past it.</summary>
    private const int MaxFrameLength = 16384;

    private static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static ListenOptions UseH2cAuthorityFix(this ListenOptions listen)
    {
        listen.Use(next => async context =>
        {
            var original = context.Transport;
            var rewritten = new Pipe();
            var pump = PumpAsync(original.Input, rewritten.Writer);
            context.Transport = new DuplexPipe(rewritten.Reader, original.Output);
            try
            {
                await next(context).ConfigureAwait(false);
            }
            finally
            {
                original.Input.CancelPendingRead();
                await pump.ConfigureAwait(false);
                context.Transport = original;
            }
        });
        return listen;
    }

    /// <summary>Copies <paramref name="input"/> to <paramref name="output"/> frame by frame, rewriting header blocks; ends with the input.</summary>
    private static async Task PumpAsync(PipeReader input, PipeWriter output)
    {
        Exception? failure = null;
        try
        {
            var rewriter = new HpackAuthorityRewriter();
            var prefaceSeen = false;
            var passThrough = false;
            var inContinuation = false;
            var header = new byte[FrameHeaderLength];
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }
                var buffer = result.Buffer;
                while (!passThrough)
                {
                    if (!prefaceSeen)
                    {
                        if (buffer.Length < ClientPreface.Length)
                        {
                            break;
                        }
                        var preface = buffer.Slice(0, ClientPreface.Length);
                        passThrough = !preface.ToArray().AsSpan().SequenceEqual(ClientPreface);
                        prefaceSeen = true;
                        if (!passThrough)
                        {
                            Write(output, preface);
                            buffer = buffer.Slice(ClientPreface.Length);
                        }
                        continue;
                    }
                    if (buffer.Length < FrameHeaderLength)
                    {
                        break;
                    }
                    buffer.Slice(0, FrameHeaderLength).CopyTo(header);
                    var length = (header[0] << 16) | (header[1] << 8) | header[2];
                    if (buffer.Length < FrameHeaderLength + length)
                    {
                        break;
                    }
                    var frame = buffer.Slice(0, FrameHeaderLength + length);
                    var type = header[3];
                    var flags = header[4];
                    if (type == HeadersType && (flags & EndHeaders) != 0 && !inContinuation)
                    {
                        var rewrittenFrame = RewriteHeaders(frame.ToArray(), rewriter);
                        if (rewrittenFrame is null)
                        {
                            passThrough = true;
                            Write(output, frame);
                        }
                        else
                        {
                            output.Write(rewrittenFrame);
                        }
                    }
                    else
                    {
                        if (type == HeadersType || (type == ContinuationType && inContinuation))
                        {
                            // A block split over frames: not rewritten, and the mirror of the dynamic
                            // table can no longer follow it, so rewriting stops for this connection.
                            passThrough = true;
                        }
                        inContinuation = type is HeadersType or ContinuationType && (flags & EndHeaders) == 0;
                        Write(output, frame);
                    }
                    buffer = buffer.Slice(frame.Length);
                }
                if (passThrough)
                {
                    Write(output, buffer);
                    buffer = buffer.Slice(buffer.Length);
                }
                input.AdvanceTo(buffer.Start, buffer.End);
                var flush = await output.FlushAsync().ConfigureAwait(false);
                if (result.IsCompleted || flush.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException or OperationCanceledException)
        {
            failure = e;
        }
        await output.CompleteAsync(failure).ConfigureAwait(false);
    }

    /// <summary>The HEADERS frame with its header block rewritten; null when the block is not valid HPACK or the frame would outgrow the limit.</summary>
    internal static byte[]? RewriteHeaders(byte[] frame, HpackAuthorityRewriter rewriter)
    {
        var flags = frame[4];
        var payload = frame.AsSpan(FrameHeaderLength);
        var padLength = 0;
        var prefixLength = 0;
        if ((flags & Padded) != 0)
        {
            if (payload.Length < 1)
            {
                return null;
            }
            padLength = payload[0];
            prefixLength = 1;
        }
        if ((flags & Priority) != 0)
        {
            prefixLength += 5;
        }
        if (prefixLength + padLength > payload.Length)
        {
            return null;
        }
        var block = rewriter.Rewrite(payload[prefixLength..(payload.Length - padLength)]);
        if (block is null)
        {
            return null;
        }
        var newLength = prefixLength + block.Length + padLength;
        if (newLength > MaxFrameLength)
        {
            return null;
        }
        var result = new byte[FrameHeaderLength + newLength];
        frame.AsSpan(0, FrameHeaderLength).CopyTo(result);
        result[0] = (byte)(newLength >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(1), (ushort)newLength);
        payload[..prefixLength].CopyTo(result.AsSpan(FrameHeaderLength));
        block.CopyTo(result.AsSpan(FrameHeaderLength + prefixLength));
        payload[(payload.Length - padLength)..].CopyTo(result.AsSpan(FrameHeaderLength + prefixLength + block.Length));
        return result;
    }

    private static void Write(PipeWriter output, ReadOnlySequence<byte> data)
    {
        foreach (var segment in data)
        {
            output.Write(segment.Span);
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
