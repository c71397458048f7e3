using Grpc.Core;

namespace Conclave.Client;

/// <summary>
/// A request the cluster refused or could not answer. Subclasses are the etcd errors a caller
/// is expected to handle; <see cref="StatusCode"/> and <see cref="Exception.Message"/> are the
/// server's (e.g. "etcdserver: requested lease not found").
/// </summary>
public class ConclaveException(StatusCode statusCode, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public StatusCode StatusCode { get; } = statusCode;
}

/// <summary>The requested revision is older than the compaction point.</summary>
public sealed class CompactedException(string message, long compactRevision, Exception? inner = null)
    : ConclaveException(StatusCode.OutOfRange, message, inner)
{
    /// <summary>The revision the store is compacted to; 0 when the server did not say
    /// (a Range answers with the message only, a watch carries the revision).</summary>
    public long CompactRevision { get; } = compactRevision;
}

/// <summary>The requested revision is newer than the store's current revision.</summary>
public sealed class FutureRevisionException(string message, Exception? inner = null)
    : ConclaveException(StatusCode.OutOfRange, message, inner);

/// <summary>The lease does not exist (never granted, revoked, or expired).</summary>
public sealed class LeaseNotFoundException(string message, Exception? inner = null)
    : ConclaveException(StatusCode.NotFound, message, inner);

/// <summary>The member has no leader; the request was not applied.</summary>
public sealed class NoLeaderException(string message, Exception? inner = null)
    : ConclaveException(StatusCode.Unavailable, message, inner);

/// <summary>The server gave up waiting for the request to commit: it may or may not have been applied.</summary>
public sealed class ServerTimeoutException(string message, Exception? inner = null)
    : ConclaveException(StatusCode.Unavailable, message, inner);

/// <summary>No member could be reached (every endpoint was tried), or the connection broke
/// after a non-retryable request was sent: then whether it was applied is unknown.</summary>
public sealed class ClusterUnavailableException(string message, Exception? inner = null)
    : ConclaveException(StatusCode.Unavailable, message, inner);

/// <summary>Maps etcd's wire errors to typed exceptions by their message text, as clientv3's rpctypes does.</summary>
internal static class ErrorMapping
{
    public const string Compacted = "etcdserver: mvcc: required revision has been compacted";
    public const string FutureRevision = "etcdserver: mvcc: required revision is a future revision";
    public const string LeaseNotFound = "etcdserver: requested lease not found";
    public const string NoLeader = "etcdserver: no leader";
    public const string RequestTimedOut = "etcdserver: request timed out";

    public static ConclaveException Map(RpcException e)
    {
        var detail = e.Status.Detail ?? "";
        return detail switch
        {
            Compacted => new CompactedException(detail, 0, e),
            FutureRevision => new FutureRevisionException(detail, e),
            LeaseNotFound => new LeaseNotFoundException(detail, e),
            NoLeader => new NoLeaderException(detail, e),
            _ when detail.StartsWith(RequestTimedOut, StringComparison.Ordinal) => new ServerTimeoutException(detail, e),
            _ => new ConclaveException(e.StatusCode, detail.Length > 0 ? detail : e.Message, e),
        };
    }

    /// <summary>True when the member could not serve the request at all (down, partitioned,
    /// or without a leader), so a read may be sent to another member.</summary>
    public static bool IsMemberUnavailable(RpcException e) =>
        e.StatusCode == StatusCode.Unavailable
        || (e.Status.Detail ?? "") is NoLeader or "etcdserver: leader changed";
}
