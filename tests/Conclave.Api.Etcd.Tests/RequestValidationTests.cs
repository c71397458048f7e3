using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;

namespace Conclave.Api.Etcd.Tests;

public sealed class RequestValidationTests
{
    private static ByteString B(string s) => ByteString.CopyFromUtf8(s);

    private static RequestOp Put(string key) => new() { RequestPut = new PutRequest { Key = B(key), Value = B("v") } };

    private static RequestOp Del(string key, string end = "") => new() { RequestDeleteRange = new DeleteRangeRequest { Key = B(key), RangeEnd = B(end) } };

    private static RequestOp Get(string key) => new() { RequestRange = new RangeRequest { Key = B(key) } };

    private static RequestOp Txn(IEnumerable<RequestOp> success, IEnumerable<RequestOp>? failure = null)
    {
        var txn = new TxnRequest();
        txn.Success.AddRange(success);
        txn.Failure.AddRange(failure ?? []);
        return new RequestOp { RequestTxn = txn };
    }

    private static TxnRequest Branch(params RequestOp[] ops)
    {
        var txn = new TxnRequest();
        txn.Success.AddRange(ops);
        return txn;
    }

    [Fact]
    public void Empty_keys_are_refused()
    {
        Assert.Equal(EtcdErrors.EmptyKey, RequestValidation.CheckRange(new RangeRequest()));
        Assert.Equal(EtcdErrors.EmptyKey, RequestValidation.CheckPut(new PutRequest { Value = B("v") }));
        Assert.Equal(EtcdErrors.EmptyKey, RequestValidation.CheckDeleteRange(new DeleteRangeRequest()));
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Target = Compare.Types.CompareTarget.Version });
        Assert.Equal(EtcdErrors.EmptyKey, RequestValidation.CheckTxn(txn, 128));
        Assert.Equal(EtcdErrors.EmptyKey, RequestValidation.CheckTxn(Branch(Put("")), 128));
    }

    [Fact]
    public void Put_flags_are_checked_as_etcd_does()
    {
        Assert.Equal(EtcdErrors.ValueProvided, RequestValidation.CheckPut(new PutRequest { Key = B("k"), Value = B("v"), IgnoreValue = true }));
        Assert.Equal(EtcdErrors.LeaseProvided, RequestValidation.CheckPut(new PutRequest { Key = B("k"), Lease = 7, IgnoreLease = true }));
        Assert.Null(RequestValidation.CheckPut(new PutRequest { Key = B("k"), IgnoreValue = true, IgnoreLease = true }));
    }

    [Fact]
    public void Sort_options_outside_the_enums_are_refused()
    {
        Assert.Equal(EtcdErrors.InvalidSortOption, RequestValidation.CheckRange(new RangeRequest { Key = B("k"), SortOrder = (RangeRequest.Types.SortOrder)7 }));
        Assert.Equal(EtcdErrors.InvalidSortOption, RequestValidation.CheckRange(new RangeRequest { Key = B("k"), SortTarget = (RangeRequest.Types.SortTarget)9 }));
        Assert.Null(RequestValidation.CheckRange(new RangeRequest { Key = B("k"), SortOrder = RangeRequest.Types.SortOrder.Descend, SortTarget = RangeRequest.Types.SortTarget.Mod }));
    }

    [Theory]
    [InlineData(128, null)]
    [InlineData(129, "too many")]
    public void Txn_op_limit_is_per_branch_and_for_compares(int count, string? expected)
    {
        var ops = Enumerable.Range(0, count).Select(i => Put($"k{i}")).ToArray();
        var compares = new TxnRequest();
        compares.Compare.AddRange(Enumerable.Range(0, count).Select(i => new Compare { Key = B($"k{i}") }));
        var failure = new TxnRequest();
        failure.Failure.AddRange(ops);

        foreach (var txn in new[] { Branch(ops), compares, failure })
        {
            var error = RequestValidation.CheckTxn(txn, 128);
            Assert.Equal(expected is null ? null : EtcdErrors.TooManyOps, error);
        }
    }

    [Fact]
    public void Nested_txn_gets_what_its_parent_left_of_the_limit()
    {
        // Parent uses 3 of 4; the nested txn may have 1 op, not 2.
        var fits = Branch(Get("a"), Get("b"), Txn([Put("c")]));
        var over = Branch(Get("a"), Get("b"), Txn([Put("c"), Put("d")]));

        Assert.Null(RequestValidation.CheckTxn(fits, 4));
        Assert.Equal(EtcdErrors.TooManyOps, RequestValidation.CheckTxn(over, 4));
    }

    [Fact]
    public void An_op_without_a_request_is_key_not_found()
    {
        Assert.Equal(EtcdErrors.KeyNotFound, RequestValidation.CheckTxn(Branch(new RequestOp()), 128));
    }

    [Fact]
    public void Duplicate_writes_in_one_branch_are_refused()
    {
        Assert.Equal(EtcdErrors.DuplicateKey, RequestValidation.CheckTxn(Branch(Put("a"), Put("a")), 128));
        Assert.Equal(EtcdErrors.DuplicateKey, RequestValidation.CheckTxn(Branch(Put("b"), Del("a", "c")), 128));
        Assert.Equal(EtcdErrors.DuplicateKey, RequestValidation.CheckTxn(Branch(Put("zz"), Del("a", "\0")), 128));
        Assert.Equal(EtcdErrors.DuplicateKey, RequestValidation.CheckTxn(Branch(Put("a"), Txn([Put("a")])), 128));
        Assert.Equal(EtcdErrors.DuplicateKey, RequestValidation.CheckTxn(Branch(Del("a", "c"), Txn([Put("b")])), 128));
    }

    [Fact]
    public void Overlaps_etcd_allows_are_allowed()
    {
        // Reads, overlapping deletes, the two branches of one txn, and a key put in both branches of a nested txn.
        Assert.Null(RequestValidation.CheckTxn(Branch(Put("a"), Get("a"), Del("b", "d"), Del("c", "e")), 128));
        var bothBranches = new TxnRequest();
        bothBranches.Success.Add(Put("a"));
        bothBranches.Failure.Add(Put("a"));
        Assert.Null(RequestValidation.CheckTxn(bothBranches, 128));
        Assert.Null(RequestValidation.CheckTxn(Branch(Txn([Put("a")], [Put("a")])), 128));
        Assert.Null(RequestValidation.CheckTxn(Branch(Put("c"), Del("a", "c")), 128));
    }
}
