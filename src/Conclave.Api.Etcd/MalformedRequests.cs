using System.Buffers.Binary;
using System.Collections.Frozen;
using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;

namespace Conclave.Api.Etcd;

/// <summary>
/// Requests whose protobuf does not parse get <see cref="StatusCode.Internal"/> "grpc: error
/// unmarshalling request: ..." as from etcd (grpc-go), instead of grpc-dotnet's
/// <see cref="StatusCode.Unknown"/> "Exception was thrown by handler." and an error logged for
/// every bad packet. grpc-dotnet parses a single request message before any interceptor runs, so
/// <see cref="MalformedRequestMiddleware"/> checks those bodies first; messages of request streams
/// are parsed inside the handler, where <see cref="MalformedRequestInterceptor"/> converts the failure.
/// </summary>
internal static class MalformedRequests
{
    public static RpcException Error(InvalidProtocolBufferException e) =>
        new(new Status(StatusCode.Internal, $"grpc: error unmarshalling request: {e.Message}"));

    /// <summary>Parsers of the request message of every method that takes exactly one, by HTTP path "/package.Service/Method".</summary>
    public static FrozenDictionary<string, MessageParser> SingleRequestParsers { get; } = new[]
        {
            KV.Descriptor, Watch.Descriptor, Lease.Descriptor, Cluster.Descriptor, Maintenance.Descriptor, Auth.Descriptor,
            Protocol.V3LockPb.Lock.Descriptor, Protocol.V3ElectionPb.Election.Descriptor,
        }
        .SelectMany(s => s.Methods)
        .Where(m => !m.IsClientStreaming)
        .ToFrozenDictionary(m => $"/{m.Service.FullName}/{m.Name}", m => m.InputType.Parser, StringComparer.Ordinal);
}

/// <summary>See <see cref="MalformedRequests"/>. Buffers the body of single-request calls (at most the receive limit) and parses it once.</summary>
internal sealed class MalformedRequestMiddleware(RequestDelegate next, EtcdLimits limits)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!MalformedRequests.SingleRequestParsers.TryGetValue(context.Request.Path.Value ?? "", out var parser)
            || context.Request.ContentLength is > 0 and var declared && declared > limits.MaxReceiveMessageBytes + 5)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        // In memory up to the receive limit (the default would spill bodies over 30 KB to a temp file).
        context.Request.EnableBuffering(bufferThreshold: limits.MaxReceiveMessageBytes + 5);
        var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
        context.Request.Body.Position = 0;
        var bytes = body.GetBuffer().AsSpan(0, (int)body.Length);

        // One uncompressed gRPC frame: flag 0, u32 big-endian length, message. Anything else is left to gRPC.
        if (bytes.Length >= 5 && bytes[0] == 0 && BinaryPrimitives.ReadUInt32BigEndian(bytes[1..]) == (uint)(bytes.Length - 5)
            && bytes.Length - 5 <= limits.MaxReceiveMessageBytes)
        {
            try
            {
                parser.ParseFrom(bytes[5..]);
            }
            catch (InvalidProtocolBufferException e)
            {
                var error = MalformedRequests.Error(e);
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "application/grpc";
                context.Response.Headers["grpc-status"] = ((int)error.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
                context.Response.Headers["grpc-message"] = Uri.EscapeDataString(error.Status.Detail);
                return;
            }
        }

        await next(context).ConfigureAwait(false);
    }
}

/// <summary>See <see cref="MalformedRequests"/>. Wraps request streams so a message that does not parse ends the call with the etcd status.</summary>
public sealed class MalformedRequestInterceptor : Interceptor
{
    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        continuation(new Reader<TRequest>(requestStream), context);

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        continuation(new Reader<TRequest>(requestStream), responseStream, context);

    private sealed class Reader<T>(IAsyncStreamReader<T> inner) : IAsyncStreamReader<T>
    {
        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            try
            {
                return await inner.MoveNext(cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw MalformedRequests.Error(e);
            }
        }
    }
}
