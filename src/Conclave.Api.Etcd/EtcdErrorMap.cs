using Conclave.Server.Api;
using Grpc.Core;

namespace Conclave.Api.Etcd;

/// <summary>
/// The one table from the server's typed outcomes to etcd's wire errors (etcd
/// <c>api/v3rpc/util.go</c>). Every service throws through <see cref="Throw"/>, so no service
/// builds an error of its own for a server outcome.
/// </summary>
public static class EtcdErrorMap
{
    /// <summary>The etcd error for a non-Ok status.</summary>
    public static EtcdError ToEtcdError(ServerStatus status) => status switch
    {
        ServerStatus.Compacted => EtcdErrors.Compacted,
        ServerStatus.FutureRevision => EtcdErrors.FutureRevision,
        ServerStatus.KeyNotFound => EtcdErrors.KeyNotFound,
        ServerStatus.NoSpace => EtcdErrors.NoSpace,
        ServerStatus.EmptyKey => EtcdErrors.EmptyKey,
        ServerStatus.DuplicateKey => EtcdErrors.DuplicateKey,
        ServerStatus.TooManyOps => EtcdErrors.TooManyOps,
        ServerStatus.ValueProvided => EtcdErrors.ValueProvided,
        ServerStatus.LeaseProvided => EtcdErrors.LeaseProvided,
        ServerStatus.LeaseNotFound => EtcdErrors.LeaseNotFound,
        ServerStatus.LeaseExists => EtcdErrors.LeaseExists,
        ServerStatus.LeaseTtlTooLarge => EtcdErrors.LeaseTtlTooLarge,
        // etcd has no error of its own for a lease id it cannot use; its lessor reports such ids as not found.
        ServerStatus.InvalidLeaseId => EtcdErrors.LeaseNotFound,
        ServerStatus.Corrupt => EtcdErrors.Corrupt,
        ServerStatus.NoLeader => EtcdErrors.NoLeader,
        ServerStatus.Timeout => EtcdErrors.Timeout,
        ServerStatus.LeaderChanged => EtcdErrors.LeaderChanged,
        ServerStatus.Stopped => EtcdErrors.Stopped,
        // etcd stops a removed member; its clients see "server stopped" (and fail over to another endpoint).
        ServerStatus.Removed => EtcdErrors.Stopped,
        ServerStatus.RequestTooLarge => EtcdErrors.RequestTooLarge,
        ServerStatus.TooManyRequests => EtcdErrors.TooManyRequests,
        ServerStatus.MemberNotFound => EtcdErrors.MemberNotFound,
        ServerStatus.MemberExists => EtcdErrors.MemberExists,
        ServerStatus.PeerUrlExists => EtcdErrors.PeerUrlExists,
        ServerStatus.MemberNotLearner => EtcdErrors.MemberNotLearner,
        ServerStatus.LearnerNotReady => EtcdErrors.LearnerNotReady,
        ServerStatus.TooManyLearners => EtcdErrors.TooManyLearners,
        ServerStatus.NotEnoughStartedMembers => EtcdErrors.MemberNotEnoughStarted,
        ServerStatus.NotLeader => EtcdErrors.NotLeader,
        ServerStatus.BadLeaderTransferee => EtcdErrors.BadLeaderTransferee,
        ServerStatus.Unhealthy => EtcdErrors.Unhealthy,
        ServerStatus.InvalidArgument => InvalidArgument,
        ServerStatus.Ok => throw new ArgumentOutOfRangeException(nameof(status), status, "Ok is not an error"),
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "unmapped server status"),
    };

    /// <summary>
    /// A request the server refused as malformed but etcd's own checks let through. etcd has no
    /// message for this case; gRPC's generic InvalidArgument code with a message naming the
    /// subsystem is the closest (clients surface it as-is).
    /// </summary>
    internal static readonly EtcdError InvalidArgument = new(StatusCode.InvalidArgument, "etcdserver: invalid request");

    /// <summary>Throws the etcd error for <paramref name="status"/> unless it is Ok.</summary>
    public static void ThrowIfFailed(ServerStatus status)
    {
        if (status != ServerStatus.Ok)
        {
            throw ToEtcdError(status).ToRpcException();
        }
    }

    /// <summary>The value of an Ok result; throws the mapped etcd error otherwise.</summary>
    public static T Unwrap<T>(this ServerResult<T> result)
    {
        ThrowIfFailed(result.Status);
        return result.Value ?? throw new InvalidOperationException($"server returned Ok without a value ({typeof(T).Name})");
    }

    /// <summary>
    /// The value of an Ok result of a command; throws the mapped etcd error when either the call or
    /// the applied command failed (the server reports an apply failure in both places, this checks both).
    /// </summary>
    public static T UnwrapApplied<T>(this ServerResult<T> result)
        where T : Conclave.Server.StateMachine.ApplyResult
    {
        var value = result.Unwrap();
        if (value.Status != Conclave.Server.StateMachine.ApplyStatus.Ok)
        {
            throw ToEtcdError(FromApplyStatus(value.Status)).ToRpcException();
        }
        return value;
    }

    /// <summary>An apply outcome in server terms: <see cref="ServerStatus"/> repeats ApplyStatus's names.</summary>
    public static ServerStatus FromApplyStatus(Conclave.Server.StateMachine.ApplyStatus status) =>
        Enum.Parse<ServerStatus>(status.ToString());

    public static RpcException Throw(ServerStatus status) => ToEtcdError(status).ToRpcException();
}
