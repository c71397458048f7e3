using Grpc.Core;

namespace Conclave.Api.Etcd.Tests;

public sealed class EtcdErrorsTests
{
    // Expected values looked up in etcd v3.6.14 api/v3rpc/rpctypes/error.go (ErrGRPC* vars),
    // and client/v3/concurrency/election.go for the election texts.
    public static TheoryData<string, StatusCode, string> Expected => new()
    {
        { nameof(EtcdErrors.EmptyKey), StatusCode.InvalidArgument, "etcdserver: key is not provided" },
        { nameof(EtcdErrors.KeyNotFound), StatusCode.InvalidArgument, "etcdserver: key not found" },
        { nameof(EtcdErrors.TooManyOps), StatusCode.InvalidArgument, "etcdserver: too many operations in txn request" },
        { nameof(EtcdErrors.DuplicateKey), StatusCode.InvalidArgument, "etcdserver: duplicate key given in txn request" },
        { nameof(EtcdErrors.Compacted), StatusCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted" },
        { nameof(EtcdErrors.FutureRevision), StatusCode.OutOfRange, "etcdserver: mvcc: required revision is a future revision" },
        { nameof(EtcdErrors.NoSpace), StatusCode.ResourceExhausted, "etcdserver: mvcc: database space exceeded" },
        { nameof(EtcdErrors.LeaseNotFound), StatusCode.NotFound, "etcdserver: requested lease not found" },
        { nameof(EtcdErrors.LeaseExists), StatusCode.FailedPrecondition, "etcdserver: lease already exists" },
        { nameof(EtcdErrors.LeaseTtlTooLarge), StatusCode.OutOfRange, "etcdserver: too large lease TTL" },
        { nameof(EtcdErrors.RequestTooLarge), StatusCode.InvalidArgument, "etcdserver: request is too large" },
        { nameof(EtcdErrors.NoLeader), StatusCode.Unavailable, "etcdserver: no leader" },
        { nameof(EtcdErrors.NotLeader), StatusCode.FailedPrecondition, "etcdserver: not leader" },
        { nameof(EtcdErrors.Timeout), StatusCode.Unavailable, "etcdserver: request timed out" },
        { nameof(EtcdErrors.NotCapable), StatusCode.FailedPrecondition, "etcdserver: not capable" },
        { nameof(EtcdErrors.PermissionDenied), StatusCode.PermissionDenied, "etcdserver: permission denied" },
        { nameof(EtcdErrors.InvalidAuthToken), StatusCode.Unauthenticated, "etcdserver: invalid auth token" },
        { nameof(EtcdErrors.AuthNotEnabled), StatusCode.FailedPrecondition, "etcdserver: authentication is not enabled" },
        { nameof(EtcdErrors.Corrupt), StatusCode.DataLoss, "etcdserver: corrupt cluster" },
        { nameof(EtcdErrors.WatchCanceled), StatusCode.Cancelled, "etcdserver: watch canceled" },
        { nameof(EtcdErrors.ElectionNoLeader), StatusCode.Unknown, "election: no leader" },
    };

    [Theory]
    [MemberData(nameof(Expected))]
    public void Member_has_etcds_code_and_message(string member, StatusCode code, string message)
    {
        var error = (EtcdError)typeof(EtcdErrors).GetField(member)!.GetValue(null)!;

        Assert.Equal(code, error.Code);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void ToRpcException_carries_code_and_exact_message()
    {
        var exception = EtcdErrors.LeaseNotFound.ToRpcException();

        Assert.Equal(StatusCode.NotFound, exception.StatusCode);
        Assert.Equal("etcdserver: requested lease not found", exception.Status.Detail);
        Assert.True(EtcdErrors.LeaseNotFound.Matches(exception));
        Assert.False(EtcdErrors.KeyNotFound.Matches(exception));
        Assert.NotSame(exception, EtcdErrors.LeaseNotFound.ToRpcException());
    }

    [Fact]
    public void Table_is_complete_and_messages_are_unique()
    {
        // 63 distinct ErrGRPC* status values in rpctypes v3.6.14 (ErrGRPCClusterIdMismatch is an
        // alias, not counted), plus 3 election errors.
        Assert.Equal(63 + 3, EtcdErrors.All.Count);
        Assert.Equal(EtcdErrors.All.Count, EtcdErrors.All.Select(e => e.Message).Distinct().Count());
        Assert.All(EtcdErrors.All, e => Assert.NotEqual(StatusCode.OK, e.Code));
    }

    [Fact]
    public void FromMessage_finds_exact_text_only()
    {
        Assert.Same(EtcdErrors.Compacted, EtcdErrors.FromMessage("etcdserver: mvcc: required revision has been compacted"));
        Assert.Null(EtcdErrors.FromMessage("mvcc: required revision has been compacted"));
        Assert.Null(EtcdErrors.FromMessage("etcdserver: Key not found"));
    }
}
