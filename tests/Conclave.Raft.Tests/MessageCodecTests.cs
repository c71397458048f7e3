namespace Conclave.Raft.Tests;

public class MessageCodecTests
{
    internal static Message RandomMessage(Random r)
    {
        ulong U() => r.Next(4) switch
        {
            0 => 0,
            1 => (ulong)r.Next(1000),
            2 => ulong.MaxValue,
            _ => (ulong)r.NextInt64(),
        };

        byte[] Bytes(int max)
        {
            var b = new byte[r.Next(max)];
            r.NextBytes(b);
            return b;
        }

        var entries = Enumerable.Range(0, r.Next(4)).Select(_ => new Entry(U(), U(), (EntryType)r.Next(2), Bytes(40))).ToArray();
        Snapshot? snap = r.Next(3) == 0
            ? new Snapshot(
                new SnapshotMetadata(U(), U(), new ConfState
                {
                    Voters = [U(), U()],
                    Learners = r.Next(2) == 0 ? [] : [U()],
                    VotersOutgoing = r.Next(2) == 0 ? [] : [U(), U(), U()],
                    LearnersNext = r.Next(2) == 0 ? [] : [U()],
                    AutoLeave = r.Next(2) == 0,
                }),
                Bytes(100))
            : null;
        return new Message
        {
            Type = (MessageType)r.Next(19),
            To = U(),
            From = U(),
            Term = U(),
            LogTerm = U(),
            Index = U(),
            Commit = U(),
            Reject = r.Next(2) == 0,
            RejectHint = U(),
            Context = Bytes(20),
            Entries = entries,
            Snapshot = snap,
        };
    }

    private static void AssertSame(Message a, Message b)
    {
        Assert.Equal((a.Type, a.To, a.From, a.Term, a.LogTerm, a.Index, a.Commit, a.Reject, a.RejectHint), (b.Type, b.To, b.From, b.Term, b.LogTerm, b.Index, b.Commit, b.Reject, b.RejectHint));
        Assert.Equal(a.Context.ToArray(), b.Context.ToArray());
        Assert.Equal(a.Entries, b.Entries);
        Assert.Equal(a.Snapshot is null, b.Snapshot is null);
        if (a.Snapshot is { } sa)
        {
            Assert.Equal(sa.Metadata, b.Snapshot!.Metadata);
            Assert.Equal(sa.Data.ToArray(), b.Snapshot.Data.ToArray());
        }
    }

    [Fact]
    public void Random_messages_round_trip()
    {
        var r = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var m = RandomMessage(r);
            var frame = MessageCodec.Encode(m);
            Assert.True(MessageCodec.TryDecode(frame, out var decoded, out var error), error);
            Assert.Null(error);
            AssertSame(m, decoded!);
        }
    }

    [Fact]
    public void Encoding_after_headroom_gives_the_same_bytes_in_an_array_of_exactly_that_size()
    {
        var r = new Random(9);
        for (var i = 0; i < 500; i++)
        {
            var m = RandomMessage(r);
            var plain = MessageCodec.Encode(m);
            Assert.Equal(MessageCodec.EncodedSize(m), plain.Length);
            var headroom = r.Next(0, 4);
            var framed = MessageCodec.Encode(m, headroom);
            Assert.Equal(headroom + plain.Length, framed.Length);
            Assert.Equal(plain, framed[headroom..]);
        }
    }

    [Fact]
    public void Every_truncation_is_rejected_without_throwing()
    {
        var r = new Random(11);
        for (var i = 0; i < 200; i++)
        {
            var frame = MessageCodec.Encode(RandomMessage(r));
            for (var len = 0; len < frame.Length; len++)
            {
                Assert.False(MessageCodec.TryDecode(frame.AsSpan(0, len), out var m, out var error));
                Assert.Null(m);
                Assert.NotNull(error);
            }
        }
    }

    [Fact]
    public void Corrupted_and_random_frames_never_throw()
    {
        var r = new Random(13);
        var accepted = 0;
        for (var i = 0; i < 5000; i++)
        {
            byte[] frame;
            if (i % 2 == 0)
            {
                frame = MessageCodec.Encode(RandomMessage(r));
                for (var k = 0; k < 1 + r.Next(3); k++)
                {
                    frame[r.Next(frame.Length)] = (byte)r.Next(256);
                }
            }
            else
            {
                frame = new byte[r.Next(64)];
                r.NextBytes(frame);
            }

            var ok = MessageCodec.TryDecode(frame, out var m, out var error);
            Assert.Equal(ok, m is not null);
            Assert.Equal(ok, error is null);
            accepted += ok ? 1 : 0;
        }

        // Some flips land in payload bytes and still decode; most corruptions must be caught.
        Assert.InRange(accepted, 1, 4000);
    }

    [Fact]
    public void Unknown_version_and_trailing_bytes_are_rejected()
    {
        var frame = MessageCodec.Encode(new Message { Type = MessageType.Heartbeat, To = 2, From = 1, Term = 3 });
        var v2 = (byte[])frame.Clone();
        v2[0] = 2;
        Assert.False(MessageCodec.TryDecode(v2, out _, out var e1));
        Assert.Contains("version", e1);
        Assert.False(MessageCodec.TryDecode([.. frame, 0], out _, out var e2));
        Assert.Contains("trailing", e2);
    }

    [Fact]
    public void Huge_declared_counts_do_not_allocate_or_throw()
    {
        // version, type, flags, 7 zero varints, empty context, entry count = 2^63
        byte[] frame = [1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        Assert.False(MessageCodec.TryDecode(frame, out _, out var error));
        Assert.Contains("entry count", error);
    }

    [Fact]
    public void ConfChange_round_trips_and_rejects_garbage()
    {
        var cc = new ConfChange
        {
            Transition = ConfChangeTransition.JointExplicit,
            Changes = [new(ConfChangeType.AddNode, 4), new(ConfChangeType.RemoveNode, 3), new(ConfChangeType.AddLearnerNode, ulong.MaxValue)],
            Context = new byte[] { 1, 2, 3 },
        };
        var decoded = ConfChange.Decode(cc.Encode());
        Assert.Equal(cc.Transition, decoded.Transition);
        Assert.Equal(cc.Changes, decoded.Changes);
        Assert.Equal(cc.Context.ToArray(), decoded.Context.ToArray());
        Assert.True(ConfChange.Decode(ConfChange.LeaveJoint().Encode()).IsLeaveJoint);

        var r = new Random(5);
        var encoded = cc.Encode();
        for (var len = 0; len < encoded.Length; len++)
        {
            Assert.False(ConfChange.TryDecode(encoded.AsSpan(0, len), out _, out _));
        }

        for (var i = 0; i < 2000; i++)
        {
            var junk = new byte[r.Next(40)];
            r.NextBytes(junk);
            ConfChange.TryDecode(junk, out _, out _);
        }

        Assert.Throws<FormatException>(() => ConfChange.Decode([9, 9, 9]));
    }
}
