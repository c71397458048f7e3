using Conclave.Storage.Mvcc;
using static Conclave.Storage.Tests.Mvcc.MvccTestKit;

namespace Conclave.Storage.Tests.Mvcc;

public sealed class MvccWatchHashSnapshotTests
{
    [Fact]
    public void Subscribers_get_each_commit_with_prev_kvs()
    {
        var store = new MvccStore();
        var batches = new List<EventBatch>();
        using (store.Subscribe(batches.Add))
        {
            store.Put("a", "1");
            store.Put("a", "2");
            store.Delete("a");
            store.Delete("a"); // no change, no batch
        }
        store.Put("after", "unsubscribed");
        Assert.Equal([2L, 3L, 4L], batches.Select(b => b.Revision));
        var del = batches[2].Events.Single();
        Assert.Equal(EventType.Delete, del.Type);
        Assert.Equal((4L, 0L, 0L), (del.Kv.ModRevision, del.Kv.CreateRevision, del.Kv.Version)); // key and mod revision only
        Assert.Equal("2", S(del.PrevKv!.Value));
        Assert.Null(batches[0].Events.Single().PrevKv);
        Assert.Equal("1", S(batches[1].Events.Single().PrevKv!.Value));
    }

    [Fact]
    public void Events_since_a_revision_filtered_by_range_and_limited_by_whole_revisions()
    {
        var store = new MvccStore();
        store.Put("a", "1"); // 2
        store.Put("b", "1"); // 3
        store.Txn(new TxnRequest { Success = [RequestOp.Put(new PutRequest { Key = B("a"), Value = B("2") }), RequestOp.Put(new PutRequest { Key = B("b"), Value = B("2") })] }); // 4
        store.Delete("a"); // 5

        var all = store.EventsSince(2, B("\0"), KeyRange.NoEnd);
        Assert.Equal([(2L, "a"), (3L, "b"), (4L, "a"), (4L, "b"), (5L, "a")], all.Events.Select(e => (e.Kv.ModRevision, S(e.Kv.Key))));
        Assert.Equal(6, all.NextRevision);

        var onlyA = store.EventsSince(3, B("a"), default);
        Assert.Equal([EventType.Put, EventType.Delete], onlyA.Events.Select(e => e.Type));
        Assert.Equal("1", S(onlyA.Events[0].PrevKv!.Value));

        var limited = store.EventsSince(3, B("\0"), KeyRange.NoEnd, limit: 2);
        Assert.Equal(3, limited.Events.Count); // revision 4 is not split
        Assert.Equal(5, limited.NextRevision);
        var rest = store.EventsSince(limited.NextRevision, B("\0"), KeyRange.NoEnd, limit: 2);
        Assert.Single(rest.Events);
        Assert.Equal(6, rest.NextRevision);

        var fromNow = store.EventsSince(0, B("\0"), KeyRange.NoEnd);
        Assert.Equal((0, 6L), (fromNow.Events.Count, fromNow.NextRevision));
    }

    [Fact]
    public void Events_below_the_compaction_revision_are_compacted_and_at_it_only_what_compaction_keeps()
    {
        var store = new MvccStore();
        store.Put("a", "1"); // 2
        store.Txn(new TxnRequest { Success = [RequestOp.Put(new PutRequest { Key = B("a"), Value = B("2") }), RequestOp.Put(new PutRequest { Key = B("b"), Value = B("1") })] }); // 3
        store.Put("b", "2"); // 4
        store.Compact(3);
        var below = store.EventsSince(2, B("\0"), KeyRange.NoEnd);
        Assert.Equal((MvccStatus.Compacted, 3L), (below.Status, below.CompactRevision));

        foreach (var pruned in new[] { false, true })
        {
            if (pruned)
            {
                store.FinishCompaction();
            }
            var at = store.EventsSince(3, B("\0"), KeyRange.NoEnd);
            Assert.Equal(MvccStatus.Ok, at.Status);
            Assert.Equal([(3L, "a", false), (3L, "b", false), (4L, "b", true)], at.Events.Select(e => (e.Kv.ModRevision, S(e.Kv.Key), e.PrevKv is not null)));
        }
    }

    [Fact]
    public void Catch_up_across_many_revisions_and_compactions()
    {
        var store = new MvccStore(new MvccStoreOptions { CompactionStepKeys = 7 });
        for (var i = 0; i < 10_000; i++)
        {
            store.Put($"k{i % 100:D2}", $"{i}");
            if (i % 3000 == 2999)
            {
                Assert.Equal(MvccStatus.Ok, store.Compact(store.CurrentRevision - 500));
            }
        }
        var compact = store.CompactRevision;
        Assert.Equal(9001 - 500, compact); // the third compaction: after put 8999 the store is at 9001
        var next = compact;
        var seen = 0;
        while (next <= store.CurrentRevision)
        {
            var r = store.EventsSince(next, B("\0"), KeyRange.NoEnd, limit: 333);
            Assert.Equal(MvccStatus.Ok, r.Status);
            Assert.All(r.Events, e => Assert.InRange(e.Kv.ModRevision, next, r.NextRevision - 1));
            seen += r.Events.Count;
            next = r.NextRevision;
        }
        Assert.Equal(store.CurrentRevision - compact + 1, seen); // one put per revision, the one at C is kept
        Assert.Equal(MvccStatus.Compacted, store.EventsSince(compact - 1, B("\0"), KeyRange.NoEnd).Status);
    }

    [Fact]
    public void HashKV_is_compaction_aware_and_checks_its_revision()
    {
        MvccStore Build()
        {
            var s = new MvccStore();
            s.Put("a", "1");
            s.Put("b", "1");
            s.Put("a", "2");
            s.Delete("b");
            s.Put("c", "1");
            return s;
        }
        var plain = Build();
        var compacted = Build();
        Assert.Equal(MvccStatus.Ok, compacted.Compact(4));
        var h1 = compacted.HashKV(0);
        compacted.FinishCompaction();
        var h2 = compacted.HashKV(0);
        Assert.Equal(h1, h2); // physical pruning does not change the hash
        Assert.Equal((4L, 6L, 6L), (h2.CompactRevision, h2.Revision, h2.HashRevision));
        Assert.NotEqual(plain.HashKV(0).Hash, h2.Hash); // history below 4 is no longer hashed

        Assert.Equal(MvccStatus.Compacted, compacted.HashKV(3).Status);
        Assert.Equal(MvccStatus.FutureRevision, compacted.HashKV(7).Status);
        Assert.NotEqual(compacted.HashKV(5).Hash, compacted.HashKV(6).Hash);
        Assert.Equal(plain.HashKV(5).Hash, Build().HashKV(5).Hash);

        plain.Put("c", "2");
        Assert.NotEqual(plain.HashKV(0).Hash, Build().HashKV(0).Hash);
    }

    [Fact]
    public void A_restored_store_is_indistinguishable()
    {
        var store = new MvccStore();
        var rng = new Random(42);
        for (var i = 0; i < 300; i++)
        {
            var key = $"k{rng.Next(40):D2}";
            if (rng.Next(5) == 0)
            {
                store.Delete(key);
            }
            else
            {
                store.Put(key, $"v{i}", lease: rng.Next(3));
            }
        }
        store.Compact(150);
        store.StepCompaction(5); // part-way through physical pruning

        var snapshot = new MemoryStream();
        store.WriteSnapshot(snapshot);
        var restored = new MvccStore();
        snapshot.Position = 0;
        restored.Restore(snapshot);

        Assert.Equal((store.CurrentRevision, store.CompactRevision), (restored.CurrentRevision, restored.CompactRevision));
        Assert.Equal(store.HashKV(0), restored.HashKV(0));
        for (var rev = 150; rev <= store.CurrentRevision; rev++)
        {
            var all = new RangeRequest { Key = B("\0"), RangeEnd = KeyRange.NoEnd, Revision = rev };
            Assert.Equal(Describe(store.Range(all).Kvs), Describe(restored.Range(all).Kvs));
            Assert.Equal(store.HashKV(rev), restored.HashKV(rev));
        }
        Assert.Equal(MvccStatus.Compacted, restored.Range(RangeRequest.Single(B("k01"), 149)).Status);
        Assert.Equal(DescribeEvents(store.EventsSince(150, B("\0"), KeyRange.NoEnd).Events), DescribeEvents(restored.EventsSince(150, B("\0"), KeyRange.NoEnd).Events));
        for (var lease = 0; lease < 3; lease++)
        {
            Assert.Equal(store.KeysWithLease(lease).Select(S), restored.KeysWithLease(lease).Select(S));
        }

        // And both go on identically.
        store.Put("k00", "next");
        restored.Put("k00", "next");
        Assert.Equal(store.HashKV(0), restored.HashKV(0));
    }

    [Fact]
    public void A_corrupt_snapshot_is_refused_and_leaves_the_store_unchanged()
    {
        var source = new MvccStore();
        source.Put("a", "1");
        var snapshot = new MemoryStream();
        source.WriteSnapshot(snapshot);
        var bytes = snapshot.ToArray();
        bytes[20] ^= 1;
        var target = new MvccStore();
        target.Put("z", "9");
        Assert.Throws<InvalidDataException>(() => target.Restore(new MemoryStream(bytes)));
        Assert.Throws<InvalidDataException>(() => target.Restore(new MemoryStream(bytes[..10])));
        Assert.Equal("9", S(target.Get("z")!.Value));
    }

    private static string[] Describe(IEnumerable<KeyValue> kvs) => kvs.Select(kv => kv.ToString()).ToArray();

    private static string[] DescribeEvents(IEnumerable<Event> events) =>
        events.Select(e => $"{e.Type} {e.Kv} prev={e.PrevKv}").ToArray();
}
