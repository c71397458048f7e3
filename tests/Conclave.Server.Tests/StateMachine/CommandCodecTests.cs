using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Tests.StateMachine;

public sealed class CommandCodecTests
{
    private static readonly byte[] K = "key"u8.ToArray();

    public static TheoryData<Command> Commands() =>
    [
        new PutCommand(new PutRequest { Key = K, Value = "v"u8.ToArray(), Lease = 5, PrevKv = true }) { RequestId = 1 },
        new DeleteRangeCommand(new DeleteRangeRequest { Key = K, RangeEnd = "kez"u8.ToArray(), PrevKv = true }) { RequestId = ulong.MaxValue },
        new TxnCommand(new TxnRequest
        {
            Compare = [new Compare { Key = K, Target = CompareTarget.Value, Result = CompareResult.NotEqual, Value = "x"u8.ToArray() }],
            Success = [RequestOp.Range(RangeRequest.Prefix(K)), RequestOp.Txn(new TxnRequest { Success = [RequestOp.Put(new PutRequest { Key = K })] })],
            Failure = [RequestOp.DeleteRange(new DeleteRangeRequest { Key = K })],
        }) { RequestId = 1UL << 63 },
        new CompactCommand(42),
        new LeaseGrantCommand(7, 60) { RequestId = 300 },
        new LeaseRevokeCommand(7),
        new LeaseCheckpointCommand([new LeaseCheckpoint(1, 2), new LeaseCheckpoint(long.MaxValue, 0)]),
        new AlarmCommand(AlarmAction.Activate, 9, AlarmType.Corrupt),
    ];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Round_trips_and_the_request_id_can_be_peeked(Command command)
    {
        var bytes = CommandCodec.Encode(command);
        Assert.True(CommandCodec.TryDecode(bytes, out var decoded, out var error), error);
        Assert.Equal(command.GetType(), decoded!.GetType());
        Assert.Equal(command.RequestId, decoded.RequestId);
        Assert.Equal(bytes, CommandCodec.Encode(decoded));
        Assert.Equal(command.RequestId, PeerFrames.PeekRequestId(bytes));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_truncation_is_refused_without_throwing(Command command)
    {
        var bytes = CommandCodec.Encode(command);
        for (var n = 0; n < bytes.Length; n++)
        {
            Assert.False(CommandCodec.TryDecode(bytes.AsSpan(0, n), out _, out var error), $"a {n}-byte prefix decoded");
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void Random_garbage_never_throws()
    {
        var random = new Random(1234);
        var buffer = new byte[64];
        for (var i = 0; i < 20_000; i++)
        {
            var n = random.Next(buffer.Length);
            random.NextBytes(buffer);
            buffer[0] = (byte)(i % 3 == 0 ? 1 : buffer[0]);
            CommandCodec.TryDecode(buffer.AsSpan(0, n), out _, out _);
        }
    }

    [Fact]
    public void Server_status_mirrors_apply_status_by_value()
    {
        foreach (var status in Enum.GetValues<ApplyStatus>())
        {
            Assert.Equal(status.ToString(), ((ServerStatus)status).ToString());
        }
    }
}
