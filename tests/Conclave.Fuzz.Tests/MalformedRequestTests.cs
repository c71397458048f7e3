using Conclave.Api.Etcd;
using Conclave.Api.Etcd.Protocol;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// A request message that does not parse gets etcd's status, Internal "grpc: error unmarshalling
/// request: ..." (the protobuf library's message after the colon), for a single request (parsed
/// before the handler runs) and for a message of a request stream (parsed by the handler's read),
/// with nothing in the server's error log; a well-formed request on the same connection still works.
/// </summary>
public sealed class MalformedRequestTests
{
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    // Field 1 (key), length-delimited, declares 5 bytes and carries 1: truncated.
    private static readonly byte[] Truncated = [0x0a, 0x05, 0x61];

    [Fact]
    public async Task A_message_that_does_not_parse_gets_Internal_error_unmarshalling_request()
    {
        await using var host = await EtcdFrontEndHost.StartAsync("malformed");
        var errors = host.Errors;
        using var channel = GrpcChannel.ForAddress(host.Address);
        var invoker = channel.CreateCallInvoker();
        var expected = "grpc: error unmarshalling request: While parsing a protocol message, the input ended unexpectedly in the middle of a field.  This could mean either that the input has been truncated or that an embedded message misreported its own length.";

        var put = new Method<byte[], byte[]>(MethodType.Unary, "etcdserverpb.KV", "Put", Bytes, Bytes);
        var unary = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(put, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)), Truncated).ResponseAsync);
        Assert.Equal(StatusCode.Internal, unary.StatusCode);
        Assert.Equal(expected, unary.Status.Detail);

        var keepAlive = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "etcdserverpb.Lease", "LeaseKeepAlive", Bytes, Bytes);
        using (var call = invoker.AsyncDuplexStreamingCall(keepAlive, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10))))
        {
            // LeaseKeepAliveRequest has one int64 field; a varint cut short does not parse either.
            await call.RequestStream.WriteAsync([0x08, 0x80]);
            var stream = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(StatusCode.Internal, stream.StatusCode);
            Assert.StartsWith("grpc: error unmarshalling request: ", stream.Status.Detail, StringComparison.Ordinal);
        }

        var kv = new KV.KVClient(channel);
        var ok = await kv.PutAsync(new PutRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("k"), Value = Google.Protobuf.ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.True(ok.Header.Revision > 1, $"revision {ok.Header.Revision} after a put");
        Assert.True(errors.Errors.IsEmpty, $"the server logged: {string.Join("\n", errors.Errors)}");
    }
}
