using Grpc.Core;

namespace Conclave.Api.Etcd;

/// <summary>
/// One client-facing etcd error: the gRPC status code and the exact status message etcd sends.
/// Clients (clientv3, etcdctl, python-etcd3, dotnet-etcd) recognise errors by the message text,
/// so <see cref="Message"/> must match byte for byte.
/// </summary>
public sealed record EtcdError(StatusCode Code, string Message)
{
    public Status Status => new(Code, Message);

    /// <summary>A new exception per call, to be thrown from a gRPC service method.</summary>
    public RpcException ToRpcException() => new(Status);

    /// <summary>True when <paramref name="exception"/> carries this error's code and message.</summary>
    public bool Matches(RpcException exception) =>
        exception.StatusCode == Code && string.Equals(exception.Status.Detail, Message, StringComparison.Ordinal);
}
