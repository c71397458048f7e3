using System.Text;
using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Tests.StateMachine;

public sealed class CommandCodecTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    public static TheoryData<string> Kinds() => new(Samples().Select(s => s.Name));

    private static IEnumerable<(string Name, Command Command)> Samples()
    {
        yield return ("put", new PutCommand(new PutRequest { Key = B("k"), Value = B("v"), Lease = 7, PrevKv = true, IgnoreLease = true }) { RequestId = ulong.MaxValue });
        yield return ("put-empty-value", new PutCommand(new PutRequest { Key = B("k"), IgnoreValue = true }));
        yield return ("delete", new DeleteRangeCommand(new DeleteRangeRequest { Key = B("a"), RangeEnd = B("b"), PrevKv = true }) { RequestId = 1 });
        yield return ("txn", new TxnCommand(NestedTxn(3)) { RequestId = 42 });
        yield return ("compact", new CompactCommand(long.MaxValue));
        yield return ("lease-grant", new LeaseGrantCommand(0x7fff_ffff_ffff_fff0, 60));
        yield return ("lease-revoke", new LeaseRevokeCommand(-1));
        yield return ("lease-checkpoint", new LeaseCheckpointCommand([new LeaseCheckpoint(1, 5), new LeaseCheckpoint(2, 0)]));
        yield return ("alarm", new AlarmCommand(AlarmAction.Deactivate, 0xdead_beef, AlarmType.NoSpace));
        yield return ("member-attributes", new MemberAttributesCommand(0x2a2f_9182_856d_a6c4, "ünï", ["http://127.0.0.1:2379", "http://[::1]:2379"]));
    }

    private static TxnRequest NestedTxn(int depth)
    {
        var txn = new TxnRequest
        {
            Compare =
            [
                new Compare { Key = B("k"), Target = CompareTarget.Version, Result = CompareResult.Greater, Number = -3 },
                new Compare { Key = B("a"), RangeEnd = new byte[] { 0 }, Target = CompareTarget.Value, Result = CompareResult.NotEqual, Value = B("x") },
            ],
            Success =
            [
                RequestOp.Put(new PutRequest { Key = B("p"), Value = new byte[300] }),
                RequestOp.Range(new RangeRequest
                {
                    Key = B("r"), RangeEnd = B("s"), Limit = 10, Revision = 5, SortOrder = SortOrder.Descend, SortTarget = SortTarget.Mod,
                    KeysOnly = true, MinModRevision = 1, MaxModRevision = 9, MinCreateRevision = 2, MaxCreateRevision = 8,
                }),
            ],
            Failure = [RequestOp.DeleteRange(new DeleteRangeRequest { Key = B("d") })],
        };
        return depth == 0 ? txn : txn with { Failure = [.. txn.Failure, RequestOp.Txn(NestedTxn(depth - 1))] };
    }

    private static Command Sample(string name) => Samples().Single(s => s.Name == name).Command;

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_kind_round_trips_byte_for_byte(string kind)
    {
        var command = Sample(kind);
        var encoded = CommandCodec.Encode(command);
        Assert.True(CommandCodec.TryDecode(encoded, out var decoded, out var error), error);
        Assert.Equal(command.GetType(), decoded!.GetType());
        Assert.Equal(command.RequestId, decoded.RequestId);
        Assert.Equal(encoded, CommandCodec.Encode(decoded));
        Assert.Equal(command.RequestId, PeerFrames.PeekRequestId(encoded));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_truncation_is_refused_without_throwing(string kind)
    {
        var encoded = CommandCodec.Encode(Sample(kind));
        for (var len = 0; len < encoded.Length; len++)
        {
            Assert.False(CommandCodec.TryDecode(encoded.AsSpan(0, len), out var c, out var error), $"{kind} truncated to {len} of {encoded.Length} bytes decoded");
            Assert.Null(c);
            Assert.False(string.IsNullOrEmpty(error));
        }
    }

    [Fact]
    public void Member_attributes_with_invalid_utf8_are_refused()
    {
        var encoded = CommandCodec.Encode(new MemberAttributesCommand(1, "ab", []));
        encoded[^3] = 0xFF; // inside the name
        Assert.False(CommandCodec.TryDecode(encoded, out _, out var error));
        Assert.Contains("MemberAttributes", error);
    }

    [Fact]
    public void Trailing_bytes_are_refused()
    {
        var encoded = CommandCodec.Encode(Sample("put"));
        Assert.False(CommandCodec.TryDecode([.. encoded, 0], out _, out var error));
        Assert.Contains("trailing", error);
    }

    [Fact]
    public void Unknown_version_and_kind_are_named_in_the_error()
    {
        Assert.False(CommandCodec.TryDecode([9, 1, 0], out _, out var error));
        Assert.Contains("version 9", error);
        Assert.False(CommandCodec.TryDecode([CommandCodec.FormatVersion, 200, 0], out _, out error));
        Assert.Contains("unknown kind 200", error);
    }

    [Fact]
    public void Nesting_beyond_the_limit_is_refused()
    {
        var deep = CommandCodec.Encode(new TxnCommand(NestedTxn(CommandCodec.MaxTxnDepth + 1)));
        Assert.False(CommandCodec.TryDecode(deep, out _, out _));
        var ok = CommandCodec.Encode(new TxnCommand(NestedTxn(CommandCodec.MaxTxnDepth - 1)));
        Assert.True(CommandCodec.TryDecode(ok, out _, out var error), error);
    }

    [Fact]
    public void Seeded_mutations_never_throw()
    {
        const int seed = 20261126;
        var random = new Random(seed);
        var samples = Samples().Select(s => CommandCodec.Encode(s.Command)).ToArray();
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = (byte[])samples[random.Next(samples.Length)].Clone();
            for (int flips = random.Next(1, 4), f = 0; f < flips; f++)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }
            try
            {
                if (CommandCodec.TryDecode(bytes, out var c, out _))
                {
                    // Whatever decodes must encode again to the same bytes: the format has one spelling per command.
                    Assert.Equal(bytes, CommandCodec.Encode(c!));
                }
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"seed {seed} iteration {i}: TryDecode threw {e.GetType().Name} on {Convert.ToHexString(bytes)}: {e.Message}");
            }
        }
    }

    [Fact]
    public void A_forged_length_cannot_allocate()
    {
        // put with a key length of 2^62: refused, not allocated
        byte[] forged = [CommandCodec.FormatVersion, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
        Assert.False(CommandCodec.TryDecode(forged, out _, out _));
    }

    [Fact]
    public void Server_status_mirrors_apply_status_by_value()
    {
        // The member maps apply outcomes to server outcomes with a cast.
        foreach (var status in Enum.GetValues<ApplyStatus>())
        {
            Assert.Equal(status.ToString(), ((ServerStatus)status).ToString());
        }
    }
}
