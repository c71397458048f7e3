using Conclave.Storage.Mvcc;
using static Conclave.Storage.Tests.Mvcc.MvccTestKit;

namespace Conclave.Storage.Tests.Mvcc;

public sealed class MvccStoreTests
{
    [Fact]
    public void Empty_store_is_at_revision_1_and_each_write_advances_it_by_one()
    {
        var store = new MvccStore();
        Assert.Equal(1, store.CurrentRevision);
        Assert.Equal(-1, store.CompactRevision);
        Assert.Equal(2, store.Put("a", "1"));
        Assert.Equal(3, store.Put("a", "1")); // same value still writes
        Assert.Equal(4, store.Put("b", "2"));
        Assert.Equal(4, store.CurrentRevision);
    }

    [Fact]
    public void Versions_create_and_mod_revisions_follow_etcd()
    {
        var store = new MvccStore();
        store.Put("k", "v1");
        store.Put("k", "v2");
        var kv = store.Get("k")!;
        Assert.Equal((2L, 3L, 2L, "v2"), (kv.CreateRevision, kv.ModRevision, kv.Version, S(kv.Value)));

        Assert.Equal((4L, 1L), store.Delete("k"));
        Assert.Null(store.Get("k"));
        Assert.Equal("v2", S(store.Get("k", 3)!.Value));

        store.Put("k", "v3");
        kv = store.Get("k")!;
        Assert.Equal((5L, 5L, 1L), (kv.CreateRevision, kv.ModRevision, kv.Version)); // new generation
    }

    [Fact]
    public void A_write_that_changes_nothing_does_not_advance_the_revision()
    {
        var store = new MvccStore();
        store.Put("a", "1");
        Assert.Equal((2L, 0L), store.Delete("missing"));
        Assert.Equal((2L, 0L), store.Delete("b", "z"));
        var r = store.Txn(new TxnRequest { Success = [RequestOp.Range(RangeRequest.Single(B("a")))] });
        Assert.Equal((MvccStatus.Ok, 2L), (r.Status, r.Revision));
        using (var txn = store.BeginWrite())
        {
            Assert.Empty(txn.Commit().Events);
        }
        Assert.Equal(2, store.CurrentRevision);
    }

    [Fact]
    public void Reads_at_past_future_and_compacted_revisions()
    {
        var store = new MvccStore();
        store.Put("a", "1"); // 2
        store.Put("a", "2"); // 3
        store.Put("a", "3"); // 4
        Assert.Equal("1", S(store.Get("a", 2)!.Value));
        Assert.Null(store.Get("a", 1));

        var future = store.Range(RangeRequest.Single(B("a"), 5));
        Assert.Equal(MvccStatus.FutureRevision, future.Status);
        Assert.Equal("mvcc: required revision is a future revision", future.Status.Message());

        Assert.Equal(MvccStatus.Ok, store.Compact(3));
        var compacted = store.Range(RangeRequest.Single(B("a"), 2));
        Assert.Equal(MvccStatus.Compacted, compacted.Status);
        Assert.Equal("mvcc: required revision has been compacted", compacted.Status.Message());
        Assert.Equal("2", S(store.Get("a", 3)!.Value)); // the compaction revision itself stays readable
        Assert.Equal(4, store.Range(RangeRequest.Single(B("a"), 3)).Revision); // header = current revision
    }

    [Fact]
    public void Compact_rejects_revisions_at_or_below_the_last_compaction_and_above_current()
    {
        var store = new MvccStore();
        store.Put("a", "1");
        store.Put("a", "2");
        Assert.Equal(MvccStatus.FutureRevision, store.Compact(4));
        Assert.Equal(MvccStatus.Ok, store.Compact(2));
        Assert.Equal(MvccStatus.Compacted, store.Compact(2));
        Assert.Equal(MvccStatus.Compacted, store.Compact(1));
        Assert.Equal(MvccStatus.Ok, store.Compact(3)); // at the current revision is allowed
        Assert.Equal(3, store.CompactRevision);
    }

    [Fact]
    public void Compaction_keeps_the_latest_revision_of_live_keys_and_drops_deleted_ones()
    {
        var store = new MvccStore();
        store.Put("live", "1"); // 2
        store.Put("live", "2"); // 3
        store.Put("gone", "x"); // 4
        store.Delete("gone"); // 5
        store.Put("late", "y"); // 6
        var usedBefore = store.UsedBytes;
        Assert.Equal(MvccStatus.Ok, store.Compact(5));
        store.FinishCompaction();
        Assert.Equal(2, store.IndexedKeys); // "gone" left the index
        Assert.True(store.UsedBytes < usedBefore);
        Assert.Equal("2", S(store.Get("live", 5)!.Value));
        Assert.Null(store.Get("gone", 5));
        Assert.Null(store.Get("late", 5));
        Assert.Equal("y", S(store.Get("late")!.Value));
    }

    [Fact]
    public void Physical_compaction_proceeds_in_bounded_steps_and_reads_stay_correct_meanwhile()
    {
        var store = new MvccStore(new MvccStoreOptions { CompactionStepKeys = 10 });
        for (var i = 0; i < 100; i++)
        {
            store.Put($"k{i:D3}", "old");
        }
        for (var i = 0; i < 100; i++)
        {
            store.Put($"k{i:D3}", "new");
        }
        var compactAt = store.CurrentRevision - 50; // keys 0..49 have "new", 50..99 "old" there
        Assert.Equal(MvccStatus.Ok, store.Compact(compactAt));
        Assert.True(store.CompactionPending);
        var steps = 0;
        while (store.StepCompaction(10))
        {
            steps++;
            var r = store.Range(new RangeRequest { Key = B("k"), RangeEnd = B("l"), Revision = compactAt });
            Assert.Equal(100, r.Count);
            Assert.Equal(50, r.Kvs.Count(kv => S(kv.Value) == "new"));
        }
        Assert.InRange(steps, 9, 12); // 100 keys, 10 per step
        Assert.False(store.CompactionPending);
        Assert.Equal(150, UsedRevisions(store));
    }

    private static long UsedRevisions(MvccStore store)
    {
        long n = 0;
        store.Scan(store.State, B("\0"), KeyRange.NoEnd, locked: false, long.MaxValue, h => n += h.Count);
        return n;
    }

    [Fact]
    public void A_snapshot_in_progress_holds_physical_pruning_back()
    {
        var store = new MvccStore();
        store.Put("a", "1");
        store.Put("a", "2");
        store.Compact(3);
        Interlocked.Increment(ref store.State.Pins); // what WriteSnapshot does while it writes
        Assert.True(store.StepCompaction());
        Assert.Equal(2, UsedRevisions(store));
        Interlocked.Decrement(ref store.State.Pins);
        store.FinishCompaction();
        Assert.Equal(1, UsedRevisions(store));
    }

    [Fact]
    public void Commits_drive_compaction_steps()
    {
        var store = new MvccStore(new MvccStoreOptions { CompactionStepKeys = 5 });
        for (var i = 0; i < 20; i++)
        {
            store.Put($"k{i:D2}", "a");
            store.Put($"k{i:D2}", "b");
        }
        store.Compact(store.CurrentRevision);
        for (var i = 0; i < 5; i++)
        {
            store.Put("other", "x");
        }
        Assert.False(store.CompactionPending);
        Assert.Equal(20 + 5, UsedRevisions(store)); // one revision per compacted key, all five of "other" (above C)
    }

    [Theory]
    [InlineData("a", "", new[] { "a" })]
    [InlineData("b", "\0", new[] { "b", "b\0", "ba", "c", "\xff" })]
    [InlineData("\0", "\0", new[] { "a", "a\xff", "b", "b\0", "ba", "c", "\xff" })]
    [InlineData("b", "c", new[] { "b", "b\0", "ba" })]
    [InlineData("c", "b", new string[0])]
    [InlineData("zz", "", new string[0])]
    public void Range_end_conventions(string key, string end, string[] expected)
    {
        var store = new MvccStore();
        foreach (var k in new[] { "c", "a", "b", "ba", "b\0", "a\xff", "\xff" })
        {
            store.Put(k, "v");
        }
        var r = store.Range(new RangeRequest { Key = B(key), RangeEnd = B(end) });
        Assert.Equal(expected, r.Keys());
        Assert.Equal(expected.Length, r.Count);
    }

    [Theory]
    [InlineData("abc", "abd")]
    [InlineData("ab\xff", "ac")]
    [InlineData("a\xff\xff", "b")]
    [InlineData("\xff\xff", "\0")]
    [InlineData("", "\0")]
    public void Prefix_end_increments_the_last_byte_below_0xff(string prefix, string expected)
    {
        Assert.Equal(B(expected), KeyRange.PrefixEnd(B(prefix)));
    }

    [Fact]
    public void Prefix_range_selects_exactly_the_prefixed_keys()
    {
        var store = new MvccStore();
        foreach (var k in new[] { "fo", "foo", "foo/a", "foo\xff", "fop", "g" })
        {
            store.Put(k, "v");
        }
        Assert.Equal(["foo", "foo/a", "foo\xff"], store.Range(RangeRequest.Prefix(B("foo"))).Keys());
    }

    private static MvccStore Sample()
    {
        // key: version / create / mod / value
        var store = new MvccStore();
        store.Put("a", "3"); // 2
        store.Put("b", "1"); // 3
        store.Put("c", "2"); // 4
        store.Put("a", "3"); // 5  a: ver 2
        store.Put("d", "0"); // 6
        store.Put("a", "3"); // 7  a: ver 3
        store.Put("c", "2"); // 8  c: ver 2
        return store;
    }

    [Fact]
    public void Limit_sets_more_and_count_ignores_limit()
    {
        var r = Sample().Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, Limit = 2 });
        Assert.Equal(["a", "b"], r.Keys());
        Assert.True(r.More);
        Assert.Equal(4, r.Count);
        r = Sample().Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, Limit = 4 });
        Assert.False(r.More);
    }

    [Theory]
    [InlineData(SortOrder.Descend, SortTarget.Key, new[] { "d", "c", "b", "a" })]
    [InlineData(SortOrder.Ascend, SortTarget.Version, new[] { "b", "d", "c", "a" })]
    [InlineData(SortOrder.Descend, SortTarget.Version, new[] { "a", "c", "b", "d" })]
    [InlineData(SortOrder.Ascend, SortTarget.Create, new[] { "a", "b", "c", "d" })]
    [InlineData(SortOrder.Descend, SortTarget.Mod, new[] { "c", "a", "d", "b" })]
    [InlineData(SortOrder.Ascend, SortTarget.Value, new[] { "d", "b", "c", "a" })]
    [InlineData(SortOrder.None, SortTarget.Mod, new[] { "b", "d", "a", "c" })] // target ≠ KEY with NONE sorts ascending
    public void Sort_targets_and_orders(SortOrder order, SortTarget target, string[] expected)
    {
        var r = Sample().Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, SortOrder = order, SortTarget = target });
        Assert.Equal(expected, r.Keys());
    }

    [Fact]
    public void Sorting_is_applied_before_the_limit()
    {
        var r = Sample().Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, SortOrder = SortOrder.Descend, SortTarget = SortTarget.Mod, Limit = 1 });
        Assert.Equal(["c"], r.Keys());
        Assert.True(r.More);
    }

    [Fact]
    public void With_order_none_and_a_non_key_target_etcd_limits_in_key_order_first()
    {
        // etcd fetches limit+1 keys in key order (the sort order is still NONE then), then sorts those.
        var r = Sample().Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, SortTarget = SortTarget.Mod, Limit = 1 });
        Assert.Equal(["b"], r.Keys()); // fetched a(7), b(3); sorted by mod: b, a; cut to 1
        Assert.True(r.More);
    }

    [Fact]
    public void Keys_only_count_only_and_revision_filters()
    {
        var store = Sample();
        var keysOnly = store.Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, KeysOnly = true });
        Assert.All(keysOnly.Kvs, kv => Assert.True(kv.Value.IsEmpty));
        Assert.Equal(7, keysOnly.Kvs[0].ModRevision);

        var countOnly = store.Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, CountOnly = true, Limit = 1 });
        Assert.Empty(countOnly.Kvs);
        Assert.Equal(4, countOnly.Count);
        Assert.False(countOnly.More);

        var filtered = store.Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, MinModRevision = 4, MaxModRevision = 7 });
        Assert.Equal(["a", "d"], filtered.Keys());
        Assert.Equal(4, filtered.Count); // count is taken before the filters
        filtered = store.Range(new RangeRequest { Key = B("a"), RangeEnd = KeyRange.NoEnd, MinCreateRevision = 3, MaxCreateRevision = 4, Limit = 1 });
        Assert.Equal(["b"], filtered.Keys());
        Assert.True(filtered.More);
    }

    [Fact]
    public void Put_with_ignore_value_and_ignore_lease()
    {
        var store = new MvccStore();
        var missing = store.Put(new PutRequest { Key = B("k"), IgnoreValue = true });
        Assert.Equal(MvccStatus.KeyNotFound, missing.Status);
        Assert.Equal("etcdserver: key not found", missing.Status.Message());
        Assert.Equal(MvccStatus.KeyNotFound, store.Put(new PutRequest { Key = B("k"), Value = B("v"), IgnoreLease = true }).Status);
        Assert.Equal(1, store.CurrentRevision);

        store.Put("k", "v", lease: 7);
        store.Put(new PutRequest { Key = B("k"), Lease = 9, IgnoreValue = true });
        var kv = store.Get("k")!;
        Assert.Equal(("v", 9L, 2L), (S(kv.Value), kv.Lease, kv.Version));
        store.Put(new PutRequest { Key = B("k"), Value = B("w"), IgnoreLease = true });
        kv = store.Get("k")!;
        Assert.Equal(("w", 9L), (S(kv.Value), kv.Lease));

        Assert.Equal("etcdserver: value is provided", store.Put(new PutRequest { Key = B("k"), Value = B("x"), IgnoreValue = true }).Status.Message());
        Assert.Equal("etcdserver: lease is provided", store.Put(new PutRequest { Key = B("k"), Lease = 1, IgnoreLease = true }).Status.Message());
        Assert.Equal("etcdserver: key is not provided", store.Put(new PutRequest { Key = B(""), Value = B("x") }).Status.Message());
    }

    [Fact]
    public void Put_returns_prev_kv_and_delete_returns_count_and_prev_kvs()
    {
        var store = new MvccStore();
        store.Put("a", "1");
        var (_, _, prev) = store.Put(new PutRequest { Key = B("a"), Value = B("2"), PrevKv = true });
        Assert.Equal("1", S(prev!.Value));
        store.Put("b", "3");
        var (status, rev, deleted, prevs) = store.DeleteRange(new DeleteRangeRequest { Key = B("a"), RangeEnd = B("c"), PrevKv = true });
        Assert.Equal((MvccStatus.Ok, 5L, 2L), (status, rev, deleted));
        Assert.Equal(["2", "3"], prevs.Select(kv => S(kv.Value)));
    }

    [Fact]
    public void Write_txn_sees_its_own_writes_and_is_invisible_until_commit()
    {
        var store = new MvccStore();
        store.Put("a", "1");
        using var txn = store.BeginWrite();
        Assert.Equal(2, txn.Revision);
        txn.Put(B("b"), B("2"));
        txn.DeleteRange(B("a"));
        Assert.Equal(3, txn.Revision);
        Assert.Equal(["b"], txn.Range(new RangeRequest { Key = B("\0"), RangeEnd = KeyRange.NoEnd }).Keys());
        Assert.Equal(["a"], store.Range(new RangeRequest { Key = B("\0"), RangeEnd = KeyRange.NoEnd }).Keys());
        Assert.Equal(MvccStatus.FutureRevision, store.Range(RangeRequest.Single(B("b"), 3)).Status);
        var batch = txn.Commit();
        Assert.Equal(3, batch.Revision);
        Assert.Equal([(EventType.Put, "b", 0), (EventType.Delete, "a", 1)], batch.Events.Select(e => (e.Type, S(e.Kv.Key), e.Kv.SubRevision)));
        Assert.Equal(["b"], store.Range(new RangeRequest { Key = B("\0"), RangeEnd = KeyRange.NoEnd }).Keys());
    }

    [Fact]
    public void Disposing_an_uncommitted_txn_undoes_everything()
    {
        var store = new MvccStore();
        store.Put("a", "1", lease: 5);
        var used = store.UsedBytes;
        var hash = store.HashKV(0);
        using (var txn = store.BeginWrite())
        {
            txn.Put(B("a"), B("2"), lease: 6);
            txn.Put(B("new"), B("x"), lease: 6);
            txn.DeleteRange(B("a"));
        }
        Assert.Equal(2, store.CurrentRevision);
        Assert.Equal(used, store.UsedBytes);
        Assert.Equal(hash, store.HashKV(0));
        Assert.Equal(1, store.IndexedKeys);
        Assert.Equal(["a"], store.KeysWithLease(5).Select(S));
        Assert.Empty(store.KeysWithLease(6));
        Assert.Equal(3, store.Put("a", "3")); // the store goes on normally
    }

    [Fact]
    public void One_writer_only()
    {
        var store = new MvccStore();
        using var txn = store.BeginWrite();
        Assert.Throws<InvalidOperationException>(() => store.BeginWrite());
        Assert.Throws<InvalidOperationException>(() => store.Compact(1));
    }

    [Fact]
    public void Leases_track_the_keys_attached_now()
    {
        var store = new MvccStore();
        store.Put("a", "1", lease: 7);
        store.Put("b", "1", lease: 7);
        store.Put("c", "1", lease: 8);
        Assert.Equal(["a", "b"], store.KeysWithLease(7).Select(S));
        store.Put("a", "2", lease: 8); // moves a to lease 8
        store.Delete("b");
        Assert.Empty(store.KeysWithLease(7));
        Assert.Equal(["a", "c"], store.KeysWithLease(8).Select(S));
        Assert.Equal([8L], store.Leases());
        Assert.Equal(8, store.Get("a")!.Lease);
    }

    [Fact]
    public void Quota_refuses_puts_but_accepts_deletes_and_compaction_so_a_full_store_can_be_repaired()
    {
        var store = new MvccStore(new MvccStoreOptions { QuotaBytes = 1000 });
        var value = new string('v', 100);
        var n = 0;
        MvccStatus status;
        while ((status = store.Put(new PutRequest { Key = B($"k{n}"), Value = B(value) }).Status) == MvccStatus.Ok)
        {
            n++;
        }
        Assert.Equal(MvccStatus.QuotaExceeded, status);
        Assert.Equal("etcdserver: mvcc: database space exceeded", status.Message());
        Assert.True(store.UsedBytes <= 1000);
        var rev = store.CurrentRevision;
        Assert.Equal(rev, store.CurrentRevision); // the refused put changed nothing

        // A txn whose second put would not fit changes nothing either.
        var txn = store.Txn(new TxnRequest { Success = [RequestOp.DeleteRange(new DeleteRangeRequest { Key = B("k0") }), RequestOp.Put(new PutRequest { Key = B("x"), Value = B(value + value) })] });
        Assert.Equal(MvccStatus.QuotaExceeded, txn.Status);
        Assert.NotNull(store.Get("k0"));
        Assert.Equal(rev, store.CurrentRevision);

        var (_, deleted) = store.Delete("k", "l");
        Assert.Equal(n, deleted);
        Assert.Equal(MvccStatus.Ok, store.Compact(store.CurrentRevision));
        store.FinishCompaction();
        Assert.Equal(0, store.UsedBytes);
        store.Put("k0", value);
    }
}
