using Conclave.Storage.Mvcc;
using static Conclave.Storage.Tests.Mvcc.MvccTestKit;

namespace Conclave.Storage.Tests.Mvcc;

public sealed class MvccTxnTests
{
    private static MvccStore Store()
    {
        var store = new MvccStore();
        store.Put("a", "apple", lease: 3); // 2
        store.Put("a", "apple", lease: 3); // 3: a version 2, create 2, mod 3
        store.Put("b", "banana"); // 4
        return store;
    }

    private static Compare Cmp(string key, CompareTarget target, CompareResult result, long number = 0, string value = "", string end = "") =>
        new() { Key = B(key), RangeEnd = B(end), Target = target, Result = result, Number = number, Value = B(value) };

    private static bool Succeeds(MvccStore store, params Compare[] compares)
    {
        var r = store.Txn(new TxnRequest { Compare = compares });
        Assert.Equal(MvccStatus.Ok, r.Status);
        return r.Succeeded;
    }

    [Theory]
    [InlineData(CompareTarget.Version, CompareResult.Equal, 2, true)]
    [InlineData(CompareTarget.Version, CompareResult.Greater, 1, true)]
    [InlineData(CompareTarget.Version, CompareResult.Less, 2, false)]
    [InlineData(CompareTarget.Version, CompareResult.NotEqual, 2, false)]
    [InlineData(CompareTarget.Create, CompareResult.Equal, 2, true)]
    [InlineData(CompareTarget.Create, CompareResult.Less, 3, true)]
    [InlineData(CompareTarget.Mod, CompareResult.Equal, 3, true)]
    [InlineData(CompareTarget.Mod, CompareResult.Greater, 3, false)]
    [InlineData(CompareTarget.Lease, CompareResult.Equal, 3, true)]
    [InlineData(CompareTarget.Lease, CompareResult.NotEqual, 0, true)]
    public void Numeric_compares(CompareTarget target, CompareResult result, long number, bool expected)
    {
        Assert.Equal(expected, Succeeds(Store(), Cmp("a", target, result, number)));
    }

    [Theory]
    [InlineData(CompareResult.Equal, "apple", true)]
    [InlineData(CompareResult.Greater, "apple", false)]
    [InlineData(CompareResult.Greater, "appl", true)]
    [InlineData(CompareResult.Less, "b", true)]
    [InlineData(CompareResult.NotEqual, "pear", true)]
    public void Value_compares_bytewise(CompareResult result, string value, bool expected)
    {
        Assert.Equal(expected, Succeeds(Store(), Cmp("a", CompareTarget.Value, result, value: value)));
    }

    [Fact]
    public void A_missing_key_compares_as_zero_except_for_value()
    {
        var store = Store();
        Assert.True(Succeeds(store, Cmp("zz", CompareTarget.Create, CompareResult.Equal, 0)));
        Assert.True(Succeeds(store, Cmp("zz", CompareTarget.Version, CompareResult.Equal, 0)));
        Assert.True(Succeeds(store, Cmp("zz", CompareTarget.Mod, CompareResult.Less, 1)));
        Assert.False(Succeeds(store, Cmp("zz", CompareTarget.Value, CompareResult.Equal, value: "")));
        Assert.False(Succeeds(store, Cmp("zz", CompareTarget.Value, CompareResult.NotEqual, value: "x")));
    }

    [Fact]
    public void Compares_are_anded_and_a_range_compare_needs_every_key_to_pass()
    {
        var store = Store();
        Assert.False(Succeeds(store, Cmp("a", CompareTarget.Version, CompareResult.Equal, 2), Cmp("b", CompareTarget.Version, CompareResult.Equal, 2)));
        Assert.True(Succeeds(store, Cmp("a", CompareTarget.Version, CompareResult.Greater, 0, end: "c")));
        Assert.False(Succeeds(store, Cmp("a", CompareTarget.Version, CompareResult.Greater, 1, end: "c"))); // b has version 1
        Assert.True(Succeeds(store, Cmp("a", CompareTarget.Mod, CompareResult.Less, 5, end: "\0")));
    }

    [Fact]
    public void All_ops_share_one_revision_and_responses_follow_the_ops()
    {
        var store = Store();
        var r = store.Txn(new TxnRequest
        {
            Compare = [Cmp("a", CompareTarget.Value, CompareResult.Equal, value: "apple")],
            Success =
            [
                RequestOp.Put(new PutRequest { Key = B("c"), Value = B("cherry"), PrevKv = true }),
                RequestOp.DeleteRange(new DeleteRangeRequest { Key = B("b"), PrevKv = true }),
                RequestOp.Put(new PutRequest { Key = B("a"), Value = B("avocado"), PrevKv = true }),
                RequestOp.Range(new RangeRequest { Key = B("a"), RangeEnd = B("z") }),
            ],
        });
        Assert.Equal((MvccStatus.Ok, true, 5L), (r.Status, r.Succeeded, r.Revision));
        Assert.Null(((PutResponseOp)r.Responses[0]).PrevKv);
        var del = (DeleteRangeResponseOp)r.Responses[1];
        Assert.Equal((1L, "banana"), (del.Deleted, S(del.PrevKvs[0].Value)));
        Assert.Equal("apple", S(((PutResponseOp)r.Responses[2]).PrevKv!.Value));
        var range = ((RangeResponseOp)r.Responses[3]).Response;
        Assert.Equal(["a", "c"], range.Keys());
        Assert.Equal("avocado", S(range.Kvs[0].Value));
        Assert.All(r.Events, e => Assert.Equal(5, e.Kv.ModRevision));
        Assert.Equal([0, 1, 2], r.Events.Select(e => e.Kv.SubRevision));
        Assert.Equal(5, store.CurrentRevision);
    }

    [Fact]
    public void Failure_branch_runs_when_a_compare_fails()
    {
        var store = Store();
        var r = store.Txn(new TxnRequest
        {
            Compare = [Cmp("a", CompareTarget.Version, CompareResult.Equal, 99)],
            Success = [RequestOp.Put(new PutRequest { Key = B("s"), Value = B("1") })],
            Failure = [RequestOp.Put(new PutRequest { Key = B("f"), Value = B("1") })],
        });
        Assert.False(r.Succeeded);
        Assert.Null(store.Get("s"));
        Assert.NotNull(store.Get("f"));
    }

    [Fact]
    public void Nested_txn_compares_are_judged_before_any_op_runs()
    {
        var store = Store();
        // The outer put makes "n" exist, but the nested compare sees the state before the txn: "n" missing.
        var r = store.Txn(new TxnRequest
        {
            Success =
            [
                RequestOp.Put(new PutRequest { Key = B("n"), Value = B("1") }),
                RequestOp.Txn(new TxnRequest
                {
                    Compare = [Cmp("n", CompareTarget.Create, CompareResult.Equal, 0)],
                    Success = [RequestOp.Put(new PutRequest { Key = B("then"), Value = B("1") })],
                    Failure = [RequestOp.Put(new PutRequest { Key = B("else"), Value = B("1") })],
                }),
            ],
        });
        Assert.Equal(MvccStatus.Ok, r.Status);
        var nested = ((TxnResponseOp)r.Responses[1]).Response;
        Assert.True(nested.Succeeded);
        Assert.NotNull(store.Get("then"));
        Assert.Null(store.Get("else"));
        Assert.Equal(5, nested.Revision);
        Assert.Equal(5, store.Get("then")!.ModRevision);
    }

    [Fact]
    public void Duplicate_keys_in_one_branch_are_refused()
    {
        var store = Store();
        static RequestOp P(string k) => RequestOp.Put(new PutRequest { Key = B(k), Value = B("v") });
        static RequestOp D(string k, string end = "") => RequestOp.DeleteRange(new DeleteRangeRequest { Key = B(k), RangeEnd = B(end) });

        var dup = store.Txn(new TxnRequest { Success = [P("x"), P("x")] });
        Assert.Equal(MvccStatus.DuplicateKey, dup.Status);
        Assert.Equal("etcdserver: duplicate key given in txn request", dup.Status.Message());
        Assert.Equal(MvccStatus.DuplicateKey, store.Txn(new TxnRequest { Success = [D("a", "c"), P("b")] }).Status);
        Assert.Equal(MvccStatus.DuplicateKey, store.Txn(new TxnRequest { Success = [P("x"), RequestOp.Txn(new TxnRequest { Failure = [P("x")] })] }).Status);

        // Allowed: the same key in success and failure, in then and else of a nested txn, and overlapping deletes.
        Assert.Equal(MvccStatus.Ok, store.Txn(new TxnRequest { Success = [P("x")], Failure = [P("x")] }).Status);
        Assert.Equal(MvccStatus.Ok, store.Txn(new TxnRequest { Success = [RequestOp.Txn(new TxnRequest { Success = [P("y")], Failure = [P("y")] })] }).Status);
        Assert.Equal(MvccStatus.Ok, store.Txn(new TxnRequest { Success = [D("a", "c"), D("b")] }).Status);
    }

    [Fact]
    public void Too_many_ops_and_empty_keys_are_refused()
    {
        var store = new MvccStore(new MvccStoreOptions { MaxTxnOps = 2 });
        var ops = Enumerable.Range(0, 3).Select(i => RequestOp.Put(new PutRequest { Key = B($"k{i}"), Value = B("v") })).ToArray();
        var r = store.Txn(new TxnRequest { Success = ops });
        Assert.Equal("etcdserver: too many operations in txn request", r.Status.Message());
        Assert.Equal(MvccStatus.EmptyKey, store.Txn(new TxnRequest { Failure = [RequestOp.Range(new RangeRequest())] }).Status);
        Assert.Equal(MvccStatus.EmptyKey, store.Range(new RangeRequest()).Status);
        // A nested txn gets the budget its parent leaves: 1 op at the top leaves 1 for the nested one.
        var nested = new TxnRequest { Success = [RequestOp.Txn(new TxnRequest { Success = [.. ops[..2]] })] };
        Assert.Equal(MvccStatus.TooManyOps, store.Txn(nested).Status);
        nested = new TxnRequest { Success = [RequestOp.Txn(new TxnRequest { Success = [.. ops[..1]] })] };
        Assert.Equal(MvccStatus.Ok, store.Txn(nested).Status);
        Assert.Equal(2, store.CurrentRevision);
    }

    [Fact]
    public void Checks_on_the_chosen_path_fail_the_whole_txn_before_any_change()
    {
        var store = Store();
        var future = store.Txn(new TxnRequest
        {
            Success = [RequestOp.Put(new PutRequest { Key = B("x"), Value = B("1") }), RequestOp.Range(RangeRequest.Single(B("a"), 5))],
        });
        Assert.Equal(MvccStatus.FutureRevision, future.Status);
        var ignore = store.Txn(new TxnRequest
        {
            Success = [RequestOp.Put(new PutRequest { Key = B("x"), Value = B("1") }), RequestOp.Put(new PutRequest { Key = B("missing"), IgnoreValue = true })],
        });
        Assert.Equal(MvccStatus.KeyNotFound, ignore.Status);
        store.Compact(3);
        Assert.Equal(MvccStatus.Compacted, store.Txn(new TxnRequest { Success = [RequestOp.Range(RangeRequest.Single(B("a"), 2))] }).Status);
        Assert.Null(store.Get("x"));
        Assert.Equal(4, store.CurrentRevision);

        // Not on the chosen path: not checked.
        var other = store.Txn(new TxnRequest { Failure = [RequestOp.Range(RangeRequest.Single(B("a"), 99))] });
        Assert.Equal(MvccStatus.Ok, other.Status);
    }
}
