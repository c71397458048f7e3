using Conclave.Raft;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// The raft message codec (peer transport) and the command codec (log entries): mutated encodings of
/// valid values either fail to decode with an error, or decode to a value whose encoding is exactly
/// the input (both codecs accept only the canonical spelling). Neither may throw.
/// </summary>
public sealed class CodecFuzzTests
{
    [Fact]
    public void Mutated_raft_messages_decode_to_an_error_or_to_a_value_that_re_encodes_to_the_same_bytes() =>
        Fuzz.Run(20_000, rng =>
        {
            var valid = MessageCodec.Encode(RandomMessage(rng));
            AssertCanonical(valid);
            var input = rng.Next(10) == 0 ? Mutator.RandomBytes(rng, rng.Next(64)) : Mutator.Mutate(rng, valid);
            AssertCanonical(input);
        });

    [Fact]
    public void Mutated_commands_decode_to_an_error_or_to_a_value_that_re_encodes_to_the_same_bytes() =>
        Fuzz.Run(20_000, rng =>
        {
            var corpus = Commands.Select(CommandCodec.Encode).ToList();
            var valid = CommandCodec.Encode(RandomCommand(rng));
            var input = rng.Next(10) == 0 ? Mutator.RandomBytes(rng, rng.Next(64)) : Mutator.Mutate(rng, rng.Next(2) == 0 ? valid : corpus[rng.Next(corpus.Count)], corpus);
            if (CommandCodec.TryDecode(input, out var command, out var error))
            {
                var again = CommandCodec.Encode(command!);
                Assert.True(again.AsSpan().SequenceEqual(input), $"decoded {command} from {Fuzz.Hex(input)} but it encodes as {Fuzz.Hex(again)}");
            }
            else
            {
                Assert.False(string.IsNullOrEmpty(error), "a failed decode must say why");
                Assert.StartsWith("command: ", error);
            }
        });

    private static void AssertCanonical(byte[] input)
    {
        if (MessageCodec.TryDecode(input, out var m, out var error))
        {
            var again = MessageCodec.Encode(m!);
            Assert.True(again.AsSpan().SequenceEqual(input), $"decoded {m} from {Fuzz.Hex(input)} but it encodes as {Fuzz.Hex(again)}");
        }
        else
        {
            Assert.Null(m);
            Assert.StartsWith("raft codec: ", error);
        }
    }

    private static Message RandomMessage(Random rng)
    {
        var entries = new Entry[rng.Next(4)];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = new Entry(Mutator.Number(rng), Mutator.Number(rng), (EntryType)rng.Next(2), Mutator.RandomBytes(rng, rng.Next(20)));
        }

        return new Message
        {
            Type = (MessageType)rng.Next((int)MessageType.ReadIndexResponse + 1),
            To = Mutator.Number(rng),
            From = Mutator.Number(rng),
            Term = Mutator.Number(rng),
            LogTerm = Mutator.Number(rng),
            Index = Mutator.Number(rng),
            Commit = Mutator.Number(rng),
            RejectHint = Mutator.Number(rng),
            Reject = rng.Next(2) == 0,
            Context = Mutator.RandomBytes(rng, rng.Next(3) == 0 ? rng.Next(12) : 0),
            Entries = entries,
            Snapshot = rng.Next(4) != 0 ? null : new Snapshot(
                new SnapshotMetadata(Mutator.Number(rng), Mutator.Number(rng), new ConfState
                {
                    Voters = Ids(rng),
                    Learners = Ids(rng),
                    VotersOutgoing = Ids(rng),
                    LearnersNext = Ids(rng),
                    AutoLeave = rng.Next(2) == 0,
                }),
                Mutator.RandomBytes(rng, rng.Next(32))),
        };
    }

    private static ulong[] Ids(Random rng) => [.. Enumerable.Range(0, rng.Next(4)).Select(_ => Mutator.Number(rng))];

    private static ReadOnlyMemory<byte> Key(Random rng) => Mutator.RandomBytes(rng, rng.Next(3) == 0 ? 0 : 1 + rng.Next(8));

    private static long Signed(Random rng) => rng.Next(4) switch
    {
        0 => 0,
        1 => rng.Next(-5, 100),
        2 => rng.NextInt64(long.MinValue, long.MaxValue),
        _ => long.MaxValue,
    };

    private static PutRequest Put(Random rng) => new()
    {
        Key = Key(rng),
        Value = Key(rng),
        Lease = Signed(rng),
        PrevKv = rng.Next(2) == 0,
        IgnoreValue = rng.Next(4) == 0,
        IgnoreLease = rng.Next(4) == 0,
    };

    private static DeleteRangeRequest Delete(Random rng) => new() { Key = Key(rng), RangeEnd = Key(rng), PrevKv = rng.Next(2) == 0 };

    private static RangeRequest Range(Random rng) => new()
    {
        Key = Key(rng),
        RangeEnd = Key(rng),
        Limit = Signed(rng),
        Revision = Signed(rng),
        SortOrder = (SortOrder)rng.Next(Enum.GetValues<SortOrder>().Length),
        SortTarget = (SortTarget)rng.Next(Enum.GetValues<SortTarget>().Length),
        KeysOnly = rng.Next(2) == 0,
        CountOnly = rng.Next(2) == 0,
        MinModRevision = Signed(rng),
        MaxModRevision = Signed(rng),
        MinCreateRevision = Signed(rng),
        MaxCreateRevision = Signed(rng),
    };

    private static TxnRequest Txn(Random rng, int depth) => new()
    {
        Compare = [.. Enumerable.Range(0, rng.Next(3)).Select(_ => new Compare
        {
            Key = Key(rng),
            RangeEnd = Key(rng),
            Target = (CompareTarget)rng.Next(Enum.GetValues<CompareTarget>().Length),
            Result = (CompareResult)rng.Next(Enum.GetValues<CompareResult>().Length),
            Number = Signed(rng),
            Value = Key(rng),
        })],
        Success = Ops(rng, depth),
        Failure = Ops(rng, depth),
    };

    private static List<RequestOp> Ops(Random rng, int depth) =>
        [.. Enumerable.Range(0, rng.Next(3)).Select(_ => (rng.Next(depth > 2 ? 3 : 4)) switch
        {
            0 => RequestOp.Range(Range(rng)),
            1 => RequestOp.Put(Put(rng)),
            2 => RequestOp.DeleteRange(Delete(rng)),
            _ => RequestOp.Txn(Txn(rng, depth + 1)),
        })];

    private static Command RandomCommand(Random rng)
    {
        Command c = rng.Next(9) switch
        {
            0 => new PutCommand(Put(rng)),
            1 => new DeleteRangeCommand(Delete(rng)),
            2 => new TxnCommand(Txn(rng, 0)),
            3 => new CompactCommand(Signed(rng)),
            4 => new LeaseGrantCommand(Signed(rng), Signed(rng)),
            5 => new LeaseRevokeCommand(Signed(rng)),
            6 => new LeaseCheckpointCommand([.. Enumerable.Range(0, rng.Next(3)).Select(_ => new LeaseCheckpoint(Signed(rng), Signed(rng)))]),
            7 => new AlarmCommand((AlarmAction)(1 + rng.Next(2)), Mutator.Number(rng), (AlarmType)rng.Next(3)),
            _ => new MemberAttributesCommand(Mutator.Number(rng), "m" + rng.Next(100), [$"http://127.0.0.1:{rng.Next(65536)}"]),
        };
        return c with { RequestId = Mutator.Number(rng) };
    }

    /// <summary>A fixed corpus for splicing: one command of each kind, and a txn nested three deep.</summary>
    private static readonly Command[] Commands =
    [
        new PutCommand(new PutRequest { Key = "k"u8.ToArray(), Value = "v"u8.ToArray(), Lease = 7, PrevKv = true }) { RequestId = 1 },
        new DeleteRangeCommand(new DeleteRangeRequest { Key = "a"u8.ToArray(), RangeEnd = "z"u8.ToArray() }) { RequestId = 300 },
        new TxnCommand(Txn(new Random(1), 0)) { RequestId = 2 },
        new TxnCommand(new TxnRequest
        {
            Success = [RequestOp.Txn(new TxnRequest { Success = [RequestOp.Txn(new TxnRequest { Failure = [RequestOp.Put(new PutRequest { Key = "n"u8.ToArray() })] })] })],
        }) { RequestId = 3 },
        new CompactCommand(42) { RequestId = 4 },
        new LeaseGrantCommand(0x1234, 60) { RequestId = 5 },
        new LeaseRevokeCommand(0x1234) { RequestId = 6 },
        new LeaseCheckpointCommand([new LeaseCheckpoint(1, 10), new LeaseCheckpoint(2, 20)]) { RequestId = 7 },
        new AlarmCommand(AlarmAction.Activate, 9, AlarmType.NoSpace) { RequestId = 8 },
        new MemberAttributesCommand(9, "m1", ["http://127.0.0.1:2379", "http://10.0.0.1:2379"]) { RequestId = 9 },
    ];
}
