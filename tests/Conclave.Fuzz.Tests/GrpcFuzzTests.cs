using Conclave.Api.Etcd.Protocol;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// Every method of every etcd v3 service, called through a raw <see cref="CallInvoker"/> with byte[]
/// marshallers on a real in-process member behind Kestrel (h2c on 127.0.0.1), with generated and
/// mutated protobuf bytes. Each answer must be a gRPC status or a valid response; no handler may
/// throw (gRPC's "Exception was thrown by handler", or an exception in the server's error log); a
/// refused request must leave the store's revision where it was; the member keeps serving.
/// The member runs on a fake clock that never advances (<see cref="EtcdFrontEndHost"/>), so no lease expires behind the test.
/// </summary>
public sealed class GrpcFuzzTests
{
    private static readonly ServiceDescriptor[] Services =
    [
        KV.Descriptor,
        Watch.Descriptor,
        Lease.Descriptor,
        Cluster.Descriptor,
        Maintenance.Descriptor,
        Auth.Descriptor,
        Conclave.Api.Etcd.Protocol.V3LockPb.Lock.Descriptor,
        Conclave.Api.Etcd.Protocol.V3ElectionPb.Election.Descriptor,
    ];

    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    [Fact]
    public async Task Mutated_requests_to_every_etcd_method_get_a_status_and_a_refused_one_changes_nothing()
    {
        var methods = Services.SelectMany(s => s.Methods).ToList();
        await using var host = await EtcdFrontEndHost.StartAsync("fuzz-grpc");
        var (member, errors) = (host.Member, host.Errors);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var invoker = channel.CreateCallInvoker();
        var kv = new KV.KVClient(channel);
        var called = new HashSet<string>();
        var outcomes = new Dictionary<StatusCode, int>();

        await Fuzz.RunAsync(600, async rng =>
        {
            var method = methods[rng.Next(methods.Count)];
            var input = rng.Next(20) == 0 ? Mutator.RandomBytes(rng, rng.Next(40)) : ProtoGen.Input(rng, method.InputType);
            var before = await RevisionAsync(kv);
            var status = await CallAsync(invoker, method, input);
            called.Add(method.FullName);
            outcomes[status.StatusCode] = outcomes.GetValueOrDefault(status.StatusCode) + 1;
            var what = $"{method.FullName}({Fuzz.Hex(input)}) answered {status.StatusCode} \"{status.Detail}\"";
            Assert.False(status.StatusCode == StatusCode.Unknown && status.Detail.Contains("Exception was thrown by handler", StringComparison.Ordinal), $"{what}; the server logged: {string.Join("\n", errors.Errors)}");
            Assert.True(errors.Errors.IsEmpty, $"{what}; the server logged: {string.Join("\n", errors.Errors)}");
            Assert.False(member.Completion.IsCompleted, $"{what}; the member stopped");
            if (status.StatusCode is not (StatusCode.OK or StatusCode.DeadlineExceeded or StatusCode.Cancelled))
            {
                Assert.True(before == await RevisionAsync(kv), $"{what}, yet the revision moved from {before}");
            }
        });

        // Still serving, and the budget reached every method (unless a long run was cut short on purpose).
        Assert.True(await RevisionAsync(kv) > 0);
        Assert.True(Fuzz.Iterations(600) < 600 || called.Count == methods.Count, $"methods never called: {string.Join(", ", methods.Select(m => m.FullName).Except(called))}");
        Assert.True(Fuzz.Iterations(600) < 600 || outcomes.Keys.Count(c => c != StatusCode.OK) >= 2, $"outcomes: {string.Join(", ", outcomes)}");
    }

    private static async Task<long> RevisionAsync(KV.KVClient kv) =>
        (await kv.RangeAsync(new RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("fuzz-probe"), Serializable = true }, deadline: DateTime.UtcNow.AddSeconds(10))).Header.Revision;

    /// <summary>
    /// One call; returns its final status. A streaming call sends the one input, then waits for a first
    /// response or a status; a stream that stays open without answering (a watch, an observe) is
    /// cancelled after a short while (reported as <see cref="StatusCode.Cancelled"/>).
    /// </summary>
    private static async Task<Status> CallAsync(CallInvoker invoker, MethodDescriptor descriptor, byte[] input)
    {
        var type = (descriptor.IsClientStreaming, descriptor.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (false, true) => MethodType.ServerStreaming,
            (true, false) => MethodType.ClientStreaming,
            _ => MethodType.DuplexStreaming,
        };
        var method = new Method<byte[], byte[]>(type, descriptor.Service.FullName, descriptor.Name, Bytes, Bytes);
        using var cts = new CancellationTokenSource(type == MethodType.Unary ? TimeSpan.FromSeconds(2) : TimeSpan.FromMilliseconds(300));
        var options = new CallOptions(cancellationToken: cts.Token);
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    var answer = await invoker.AsyncUnaryCall(method, null, options, input);
                    descriptor.OutputType.Parser.ParseFrom(answer);
                    return Status.DefaultSuccess;
                case MethodType.ServerStreaming:
                    {
                        using var call = invoker.AsyncServerStreamingCall(method, null, options, input);
                        return await FirstAsync(call.ResponseStream, descriptor, cts.Token);
                    }

                default:
                    {
                        using var call = invoker.AsyncDuplexStreamingCall(method, null, options);
                        await call.RequestStream.WriteAsync(input);
                        await call.RequestStream.CompleteAsync();
                        return await FirstAsync(call.ResponseStream, descriptor, cts.Token);
                    }
            }
        }
        catch (RpcException e)
        {
            return cts.IsCancellationRequested && e.StatusCode == StatusCode.Cancelled ? new Status(StatusCode.Cancelled, "no answer in time") : e.Status;
        }
    }

    private static async Task<Status> FirstAsync(IAsyncStreamReader<byte[]> responses, MethodDescriptor descriptor, CancellationToken ct)
    {
        if (await responses.MoveNext(ct))
        {
            descriptor.OutputType.Parser.ParseFrom(responses.Current);
        }

        return Status.DefaultSuccess;
    }
}
