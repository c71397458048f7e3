using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Grpc.Core;

namespace Conclave.Api.Etcd.Tests;

public sealed class EtcdErrorMapTests
{
    public static TheoryData<ServerStatus> Failures() => new(Enum.GetValues<ServerStatus>().Where(s => s != ServerStatus.Ok));

    [Theory]
    [MemberData(nameof(Failures))]
    public void Every_failure_maps_to_a_known_etcd_error(ServerStatus status)
    {
        var error = EtcdErrorMap.ToEtcdError(status);

        Assert.True(EtcdErrors.All.Contains(error) || error == EtcdErrorMap.InvalidArgument, $"{status} → {error} is not in EtcdErrors");
        Assert.NotEqual(StatusCode.OK, error.Code);
    }

    [Theory]
    [InlineData(ServerStatus.Compacted, StatusCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted")]
    [InlineData(ServerStatus.FutureRevision, StatusCode.OutOfRange, "etcdserver: mvcc: required revision is a future revision")]
    [InlineData(ServerStatus.LeaseNotFound, StatusCode.NotFound, "etcdserver: requested lease not found")]
    [InlineData(ServerStatus.LeaseExists, StatusCode.FailedPrecondition, "etcdserver: lease already exists")]
    [InlineData(ServerStatus.DuplicateKey, StatusCode.InvalidArgument, "etcdserver: duplicate key given in txn request")]
    [InlineData(ServerStatus.TooManyOps, StatusCode.InvalidArgument, "etcdserver: too many operations in txn request")]
    [InlineData(ServerStatus.NoSpace, StatusCode.ResourceExhausted, "etcdserver: mvcc: database space exceeded")]
    [InlineData(ServerStatus.NoLeader, StatusCode.Unavailable, "etcdserver: no leader")]
    [InlineData(ServerStatus.Timeout, StatusCode.Unavailable, "etcdserver: request timed out")]
    [InlineData(ServerStatus.RequestTooLarge, StatusCode.InvalidArgument, "etcdserver: request is too large")]
    [InlineData(ServerStatus.MemberNotFound, StatusCode.NotFound, "etcdserver: member not found")]
    [InlineData(ServerStatus.NotLeader, StatusCode.FailedPrecondition, "etcdserver: not leader")]
    [InlineData(ServerStatus.NotEnoughStartedMembers, StatusCode.FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members")]
    [InlineData(ServerStatus.Unhealthy, StatusCode.Unavailable, "etcdserver: unhealthy cluster")]
    [InlineData(ServerStatus.TooManyLearners, StatusCode.FailedPrecondition, "etcdserver: too many learner members in cluster")]
    [InlineData(ServerStatus.LearnerNotReady, StatusCode.FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader")]
    [InlineData(ServerStatus.Removed, StatusCode.Unavailable, "etcdserver: server stopped")]
    [InlineData(ServerStatus.TooManyRequests, StatusCode.ResourceExhausted, "etcdserver: too many requests")]
    public void Known_pairs_match_etcd(ServerStatus status, StatusCode code, string message)
    {
        var error = EtcdErrorMap.ToEtcdError(status);

        Assert.Equal(code, error.Code);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Ok_is_not_an_error()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => EtcdErrorMap.ToEtcdError(ServerStatus.Ok));
        EtcdErrorMap.ThrowIfFailed(ServerStatus.Ok);
    }

    [Theory]
    [MemberData(nameof(ApplyStatuses))]
    public void Every_apply_status_has_a_server_status_of_the_same_name(ApplyStatus status)
    {
        Assert.Equal(status.ToString(), EtcdErrorMap.FromApplyStatus(status).ToString());
    }

    public static TheoryData<ApplyStatus> ApplyStatuses() => new(Enum.GetValues<ApplyStatus>());

    [Fact]
    public void Unwrap_throws_the_mapped_rpc_exception()
    {
        var result = new ServerResult<string>(ServerStatus.Compacted, default, null);

        var e = Assert.Throws<RpcException>(() => result.Unwrap());

        Assert.True(EtcdErrors.Compacted.Matches(e));
    }

    [Fact]
    public void UnwrapApplied_checks_the_applied_status_too()
    {
        var result = new ServerResult<PutApplied>(ServerStatus.Ok, default, new PutApplied(ApplyStatus.LeaseNotFound, 5, null));

        var e = Assert.Throws<RpcException>(() => result.UnwrapApplied());

        Assert.True(EtcdErrors.LeaseNotFound.Matches(e));
    }
}
