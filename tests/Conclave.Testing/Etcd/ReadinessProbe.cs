using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Testing.Etcd;

/// <summary>What <see cref="ReadinessProbe.WaitAsync"/> saw.</summary>
public enum Readiness
{
    /// <summary>The member answered a linearizable Range.</summary>
    Ready,

    /// <summary>The process exited first.</summary>
    Exited,

    /// <summary>The timeout passed; <see cref="ReadinessResult.LastError"/> says what the last attempt got.</summary>
    TimedOut,
}

/// <summary>
/// The outcome of a readiness probe; the ids come from the ResponseHeader of the answer (zero
/// unless <see cref="Readiness.Ready"/>).
/// </summary>
public sealed record ReadinessResult(Readiness Outcome, ulong ClusterId, ulong MemberId, RpcException? LastError);

/// <summary>
/// Waits until an etcd-compatible member (real etcd or `conclave serve`) is ready: it answers a
/// linearizable Range on "health", the read `etcdctl endpoint health` makes, which a member answers
/// only once it has a leader and has applied up to the read index. The gRPC channel waits for the
/// port with wait-for-ready (its own reconnect backoff); a server error ("no leader", "leader
/// changed") is retried 100 ms later. Each attempt races with the process exiting. The request is
/// encoded by hand: the test kit does not depend on the generated protocol types.
/// </summary>
public static class ReadinessProbe
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(100);

    private static readonly Marshaller<byte[]> RawBytes = Marshallers.Create(b => b, b => b);

    private static readonly Method<byte[], byte[]> Range = new(MethodType.Unary, "etcdserverpb.KV", "Range", RawBytes, RawBytes);

    /// <param name="clientUrl">The member's client URL (gRPC over h2c).</param>
    /// <param name="exited">Completes when the member's process exits.</param>
    /// <param name="timeout">The bound for the whole wait.</param>
    /// <param name="attemptTimeout">The deadline of one Range (null: the whole <paramref name="timeout"/>).</param>
    public static async Task<ReadinessResult> WaitAsync(
        Uri clientUrl, Task exited, TimeSpan timeout, TimeSpan? attemptTimeout = null, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        // RangeRequest{ key = "health" }: field 1, wire type 2 (0x0a), length 6.
        byte[] request = [0x0a, 0x06, .. "health"u8];
        using var channel = GrpcChannel.ForAddress(clientUrl);
        var invoker = channel.CreateCallInvoker();
        RpcException? last = null;
        while (DateTime.UtcNow < deadline)
        {
            var attemptDeadline = attemptTimeout is { } t && DateTime.UtcNow + t < deadline ? DateTime.UtcNow + t : deadline;
            var options = new CallOptions(deadline: attemptDeadline, cancellationToken: cancellationToken).WithWaitForReady();
            using var call = invoker.AsyncUnaryCall(Range, null, options, request);
            if (await Task.WhenAny(call.ResponseAsync, exited) != call.ResponseAsync)
            {
                return new ReadinessResult(Readiness.Exited, 0, 0, last);
            }

            try
            {
                var (clusterId, memberId) = RealEtcd.ReadHeaderIds(await call.ResponseAsync);
                return new ReadinessResult(Readiness.Ready, clusterId, memberId, null);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded)
            {
                last = e;
            }
            catch (RpcException e)
            {
                last = e;
                await Task.Delay(RetryDelay, cancellationToken);
            }
        }

        return new ReadinessResult(Readiness.TimedOut, 0, 0, last);
    }
}
