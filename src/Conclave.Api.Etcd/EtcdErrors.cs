using System.Collections.Frozen;
using System.Reflection;
using Grpc.Core;

namespace Conclave.Api.Etcd;

/// <summary>
/// The errors an etcd v3 server sends to clients, with etcd's gRPC codes and messages.
/// Source: etcd api/v3rpc/rpctypes/error.go at v3.6.14 (the <c>ErrGRPC*</c> values; the same
/// strings in v3.4.45 and v3.5.33 except where a member says otherwise), and for the lock and
/// election services client/v3/concurrency/election.go and
/// server/etcdserver/api/v3election/election.go, whose plain Go errors gRPC sends as
/// <see cref="StatusCode.Unknown"/> with the error text.
/// Front ends map the server's typed results to these members and nothing else; the
/// front end never makes up a message.
/// </summary>
public static class EtcdErrors
{
    // --- request validation (KV) ---
    public static readonly EtcdError EmptyKey = new(StatusCode.InvalidArgument, "etcdserver: key is not provided");
    /// <summary>Put with ignore_value or ignore_lease on a key that does not exist.</summary>
    public static readonly EtcdError KeyNotFound = new(StatusCode.InvalidArgument, "etcdserver: key not found");
    /// <summary>Put with ignore_value and a non-empty value.</summary>
    public static readonly EtcdError ValueProvided = new(StatusCode.InvalidArgument, "etcdserver: value is provided");
    /// <summary>Put with ignore_lease and a non-zero lease.</summary>
    public static readonly EtcdError LeaseProvided = new(StatusCode.InvalidArgument, "etcdserver: lease is provided");
    /// <summary>More ops in one txn branch (or compares) than the server's limit (128 by default).</summary>
    public static readonly EtcdError TooManyOps = new(StatusCode.InvalidArgument, "etcdserver: too many operations in txn request");
    /// <summary>A txn branch that writes one key twice (put/put or put/delete overlap).</summary>
    public static readonly EtcdError DuplicateKey = new(StatusCode.InvalidArgument, "etcdserver: duplicate key given in txn request");
    public static readonly EtcdError InvalidClientApiVersion = new(StatusCode.InvalidArgument, "etcdserver: invalid client api version");
    /// <summary>Range with a sort_order or sort_target outside the enum.</summary>
    public static readonly EtcdError InvalidSortOption = new(StatusCode.InvalidArgument, "etcdserver: invalid sort option");

    // --- MVCC ---
    /// <summary>A revision at or below the compaction revision (Range, Compact, Txn range ops).</summary>
    public static readonly EtcdError Compacted = new(StatusCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted");
    public static readonly EtcdError FutureRevision = new(StatusCode.OutOfRange, "etcdserver: mvcc: required revision is a future revision");
    /// <summary>The backend quota is exceeded (NOSPACE alarm raised); writes are refused.</summary>
    public static readonly EtcdError NoSpace = new(StatusCode.ResourceExhausted, "etcdserver: mvcc: database space exceeded");

    // --- leases ---
    public static readonly EtcdError LeaseNotFound = new(StatusCode.NotFound, "etcdserver: requested lease not found");
    /// <summary>LeaseGrant with an explicit ID that is already in use.</summary>
    public static readonly EtcdError LeaseExists = new(StatusCode.FailedPrecondition, "etcdserver: lease already exists");
    /// <summary>LeaseGrant with a TTL above the maximum (9,000,000,000 seconds).</summary>
    public static readonly EtcdError LeaseTtlTooLarge = new(StatusCode.OutOfRange, "etcdserver: too large lease TTL");

    // --- watch ---
    /// <summary>The watch stream ends because the server is shutting it down (not sent as a cancel_reason).</summary>
    public static readonly EtcdError WatchCanceled = new(StatusCode.Cancelled, "etcdserver: watch canceled");

    // --- membership ---
    public static readonly EtcdError MemberExists = new(StatusCode.FailedPrecondition, "etcdserver: member ID already exist");
    public static readonly EtcdError PeerUrlExists = new(StatusCode.FailedPrecondition, "etcdserver: Peer URLs already exists");
    public static readonly EtcdError MemberNotEnoughStarted = new(StatusCode.FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members");
    public static readonly EtcdError MemberBadUrls = new(StatusCode.InvalidArgument, "etcdserver: given member URLs are invalid");
    public static readonly EtcdError MemberNotFound = new(StatusCode.NotFound, "etcdserver: member not found");
    public static readonly EtcdError MemberNotLearner = new(StatusCode.FailedPrecondition, "etcdserver: can only promote a learner member");
    public static readonly EtcdError LearnerNotReady = new(StatusCode.FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader");
    public static readonly EtcdError TooManyLearners = new(StatusCode.FailedPrecondition, "etcdserver: too many learner members in cluster");
    public static readonly EtcdError ClusterIdMismatch = new(StatusCode.FailedPrecondition, "etcdserver: cluster ID mismatch");

    // --- request size and rate ---
    /// <summary>A proposal larger than the server's request limit (1.5 MiB by default).</summary>
    public static readonly EtcdError RequestTooLarge = new(StatusCode.InvalidArgument, "etcdserver: request is too large");
    /// <summary>Too many proposals not yet applied (etcd: committed - applied > 5000).</summary>
    public static readonly EtcdError TooManyRequests = new(StatusCode.ResourceExhausted, "etcdserver: too many requests");

    // --- auth ---
    public static readonly EtcdError RootUserNotExist = new(StatusCode.FailedPrecondition, "etcdserver: root user does not exist");
    public static readonly EtcdError RootRoleNotExist = new(StatusCode.FailedPrecondition, "etcdserver: root user does not have root role");
    public static readonly EtcdError UserAlreadyExists = new(StatusCode.FailedPrecondition, "etcdserver: user name already exists");
    public static readonly EtcdError UserEmpty = new(StatusCode.InvalidArgument, "etcdserver: user name is empty");
    public static readonly EtcdError UserNotFound = new(StatusCode.FailedPrecondition, "etcdserver: user name not found");
    public static readonly EtcdError RoleAlreadyExists = new(StatusCode.FailedPrecondition, "etcdserver: role name already exists");
    public static readonly EtcdError RoleNotFound = new(StatusCode.FailedPrecondition, "etcdserver: role name not found");
    public static readonly EtcdError RoleEmpty = new(StatusCode.InvalidArgument, "etcdserver: role name is empty");
    public static readonly EtcdError AuthFailed = new(StatusCode.InvalidArgument, "etcdserver: authentication failed, invalid user ID or password");
    public static readonly EtcdError PermissionNotGiven = new(StatusCode.InvalidArgument, "etcdserver: permission not given");
    public static readonly EtcdError PermissionDenied = new(StatusCode.PermissionDenied, "etcdserver: permission denied");
    public static readonly EtcdError RoleNotGranted = new(StatusCode.FailedPrecondition, "etcdserver: role is not granted to the user");
    public static readonly EtcdError PermissionNotGranted = new(StatusCode.FailedPrecondition, "etcdserver: permission is not granted to the role");
    /// <summary>Authenticate while auth is disabled; clientv3 tolerates this one.</summary>
    public static readonly EtcdError AuthNotEnabled = new(StatusCode.FailedPrecondition, "etcdserver: authentication is not enabled");
    public static readonly EtcdError InvalidAuthToken = new(StatusCode.Unauthenticated, "etcdserver: invalid auth token");
    public static readonly EtcdError InvalidAuthManagement = new(StatusCode.InvalidArgument, "etcdserver: invalid auth management");
    public static readonly EtcdError AuthOldRevision = new(StatusCode.InvalidArgument, "etcdserver: revision of auth store is old");

    // --- cluster state ---
    public static readonly EtcdError NoLeader = new(StatusCode.Unavailable, "etcdserver: no leader");
    public static readonly EtcdError NotLeader = new(StatusCode.FailedPrecondition, "etcdserver: not leader");
    public static readonly EtcdError LeaderChanged = new(StatusCode.Unavailable, "etcdserver: leader changed");
    /// <summary>The cluster version does not support the request. etcd 3.4 and 3.5 send this with Unavailable; 3.6 with FailedPrecondition (used here).</summary>
    public static readonly EtcdError NotCapable = new(StatusCode.FailedPrecondition, "etcdserver: not capable");
    public static readonly EtcdError Stopped = new(StatusCode.Unavailable, "etcdserver: server stopped");
    public static readonly EtcdError Timeout = new(StatusCode.Unavailable, "etcdserver: request timed out");
    public static readonly EtcdError TimeoutDueToLeaderFail = new(StatusCode.Unavailable, "etcdserver: request timed out, possibly due to previous leader failure");
    public static readonly EtcdError TimeoutDueToConnectionLost = new(StatusCode.Unavailable, "etcdserver: request timed out, possibly due to connection lost");
    /// <summary>3.5+: a linearizable read waited too long for the apply loop to reach the read index.</summary>
    public static readonly EtcdError TimeoutWaitAppliedIndex = new(StatusCode.Unavailable, "etcdserver: request timed out, waiting for the applied index took too long");
    public static readonly EtcdError Unhealthy = new(StatusCode.Unavailable, "etcdserver: unhealthy cluster");
    public static readonly EtcdError Corrupt = new(StatusCode.DataLoss, "etcdserver: corrupt cluster");
    /// <summary>3.5+: a learner refuses everything but Status and serializable Range.</summary>
    public static readonly EtcdError NotSupportedForLearner = new(StatusCode.FailedPrecondition, "etcdserver: rpc not supported for learner");
    /// <summary>MoveLeader to a member that is not a voting, caught-up peer.</summary>
    public static readonly EtcdError BadLeaderTransferee = new(StatusCode.FailedPrecondition, "etcdserver: bad leader transferee");

    // --- downgrade (3.5+) ---
    public static readonly EtcdError WrongDowngradeVersionFormat = new(StatusCode.InvalidArgument, "etcdserver: wrong downgrade target version format");
    public static readonly EtcdError InvalidDowngradeTargetVersion = new(StatusCode.InvalidArgument, "etcdserver: invalid downgrade target version");
    /// <summary>etcd 3.5 sends this with Unavailable; 3.6 with FailedPrecondition (used here).</summary>
    public static readonly EtcdError ClusterVersionUnavailable = new(StatusCode.FailedPrecondition, "etcdserver: cluster version not found during downgrade");
    public static readonly EtcdError DowngradeInProcess = new(StatusCode.FailedPrecondition, "etcdserver: cluster has a downgrade job in progress");
    public static readonly EtcdError NoInflightDowngrade = new(StatusCode.FailedPrecondition, "etcdserver: no inflight downgrade job");

    // --- the request's own context (3.5+; 3.4 lets gRPC report these) ---
    public static readonly EtcdError Canceled = new(StatusCode.Cancelled, "etcdserver: request canceled");
    public static readonly EtcdError DeadlineExceeded = new(StatusCode.DeadlineExceeded, "etcdserver: context deadline exceeded");

    // --- v3election (plain Go errors, which gRPC sends as Unknown with the text) ---
    /// <summary>Election.Leader on an election with no candidate.</summary>
    public static readonly EtcdError ElectionNoLeader = new(StatusCode.Unknown, "election: no leader");
    /// <summary>Proclaim or Resign with a leader key that no longer leads.</summary>
    public static readonly EtcdError ElectionNotLeader = new(StatusCode.Unknown, "election: not leader");
    /// <summary>Proclaim or Resign without the leader field.</summary>
    public static readonly EtcdError ElectionMissingLeaderKey = new(StatusCode.Unknown, "\"leader\" field must be provided");

    /// <summary>Every error above, in declaration order.</summary>
    public static IReadOnlyList<EtcdError> All { get; } = typeof(EtcdErrors)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.FieldType == typeof(EtcdError))
        .Select(f => (EtcdError)f.GetValue(null)!)
        .ToArray();

    private static readonly FrozenDictionary<string, EtcdError> ByMessage =
        All.ToFrozenDictionary(e => e.Message, StringComparer.Ordinal);

    /// <summary>
    /// The known error with this exact message, as clientv3 recognises errors; null for any
    /// other text.
    /// </summary>
    public static EtcdError? FromMessage(string message) =>
        ByMessage.GetValueOrDefault(message);
}
