using Grpc.Core;

namespace Conclave.Client.Tests;

/// <summary>Pure parts of the client: no server needed.</summary>
public sealed class UnitTests
{
    [Theory]
    [InlineData("a", "b")]
    [InlineData("app/config/", "app/config0")]
    [InlineData("", "\0")]
    public void Prefix_end_is_the_first_key_after_every_key_with_the_prefix(string prefix, string end) =>
        Assert.Equal(end, Keys.PrefixEnd(prefix).ToStringUtf8());

    [Theory]
    [InlineData(StatusCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted", typeof(CompactedException))]
    [InlineData(StatusCode.OutOfRange, "etcdserver: mvcc: required revision is a future revision", typeof(FutureRevisionException))]
    [InlineData(StatusCode.NotFound, "etcdserver: requested lease not found", typeof(LeaseNotFoundException))]
    [InlineData(StatusCode.Unavailable, "etcdserver: no leader", typeof(NoLeaderException))]
    [InlineData(StatusCode.Unavailable, "etcdserver: request timed out", typeof(ServerTimeoutException))]
    [InlineData(StatusCode.InvalidArgument, "etcdserver: key is not provided", typeof(ConclaveException))]
    public void Wire_errors_map_by_message_text(StatusCode code, string message, Type expected)
    {
        var mapped = ErrorMapping.Map(new RpcException(new Status(code, message)));
        Assert.Equal(expected, mapped.GetType());
        Assert.Equal(message, mapped.Message);
    }

    [Fact]
    public void Compare_operators_build_the_wire_comparison()
    {
        var compare = Compare.CreateRevision("k") == 42;
        Assert.Equal(("k", 42L), (compare.Proto.Key.ToStringUtf8(), compare.Proto.CreateRevision));
        Assert.Equal("Equal", compare.Proto.Result.ToString());
        var value = Compare.Value("k") != "v";
        Assert.Equal("NotEqual", value.Proto.Result.ToString());
        Assert.Equal("v", value.Proto.Value.ToStringUtf8());
    }
}
