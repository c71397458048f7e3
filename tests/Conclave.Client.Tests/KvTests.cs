using Conclave.Testing.Etcd;

namespace Conclave.Client.Tests;

[Collection("etcd")]
public sealed class KvTests(EtcdFixture fixture)
{
    [EtcdFact]
    public async Task Put_get_range_prefix_with_options()
    {
        await using var client = fixture.NewClient();
        var first = await client.PutAsync("kv1/a", "1");
        await client.PutAsync("kv1/b", "2");
        await client.PutAsync("kv1/c", "3");
        var overwrite = await client.PutAsync("kv1/a", "1b", prevKv: true);
        await client.PutAsync("kv2/x", "outside");

        Assert.Equal("1", overwrite.PrevKv!.ValueText);
        var a = Assert.Single((await client.GetAsync("kv1/a")).Kvs);
        Assert.Equal(("1b", 2L, first.Revision), (a.ValueText, a.Version, a.CreateRevision));
        Assert.Equal("1", Assert.Single((await client.GetAsync("kv1/a", new GetOptions { Revision = first.Revision })).Kvs).ValueText);

        var all = await client.GetPrefixAsync("kv1/");
        Assert.Equal(["kv1/a", "kv1/b", "kv1/c"], all.Kvs.Select(k => k.Key));
        var range = await client.GetRangeAsync("kv1/b", "kv1/d");
        Assert.Equal(["kv1/b", "kv1/c"], range.Kvs.Select(k => k.Key));

        var newestFirst = await client.GetPrefixAsync("kv1/", new GetOptions { SortTarget = SortTarget.Mod, SortOrder = SortOrder.Descend, Limit = 2 });
        Assert.Equal(["kv1/a", "kv1/c"], newestFirst.Kvs.Select(k => k.Key));
        Assert.True(newestFirst.More);
        Assert.Equal(3, newestFirst.Count);

        var keysOnly = await client.GetPrefixAsync("kv1/", new GetOptions { KeysOnly = true });
        Assert.All(keysOnly.Kvs, kv => Assert.Empty(kv.Value));
        var countOnly = await client.GetPrefixAsync("kv1/", new GetOptions { CountOnly = true });
        Assert.Equal((3L, 0), (countOnly.Count, countOnly.Kvs.Count));

        var deleted = await client.DeletePrefixAsync("kv1/", prevKv: true);
        Assert.Equal(3, deleted.Deleted);
        Assert.Equal(["1b", "2", "3"], deleted.PrevKvs.Select(k => k.ValueText).Order());
        Assert.Empty((await client.GetPrefixAsync("kv1/")).Kvs);
        Assert.Equal(1, (await client.DeleteAsync("kv2/x")).Deleted);
    }

    [EtcdFact]
    public async Task Txn_builder_runs_the_branch_its_compares_choose()
    {
        await using var client = fixture.NewClient();
        var created = await client.Txn()
            .If(Compare.Version("txn/k") == 0)
            .Then(Op.Put("txn/k", "v1"))
            .Else(Op.Get("txn/k"))
            .CommitAsync();
        Assert.True(created.Succeeded);
        Assert.IsType<PutResult>(Assert.Single(created.Results));

        var second = await client.Txn()
            .If(Compare.Version("txn/k") == 0)
            .Then(Op.Put("txn/k", "v2"))
            .Else(Op.Get("txn/k"))
            .CommitAsync();
        Assert.False(second.Succeeded);
        var read = Assert.IsType<GetResult>(Assert.Single(second.Results));
        Assert.Equal("v1", Assert.Single(read.Kvs).ValueText);

        var swapped = await client.Txn()
            .If(Compare.Value("txn/k") == "v1", Compare.ModRevision("txn/k") == created.Revision)
            .Then(Op.Put("txn/k", "v3"), Op.Delete("txn/other"))
            .CommitAsync();
        Assert.True(swapped.Succeeded);
        Assert.Equal("v3", (await client.GetAsync("txn/k")).Kvs[0].ValueText);
    }

    [EtcdFact]
    public async Task Wire_errors_become_typed_exceptions()
    {
        await using var client = fixture.NewClient();
        var put = await client.PutAsync("err/k", "v");
        await Assert.ThrowsAsync<FutureRevisionException>(() => client.GetAsync("err/k", new GetOptions { Revision = put.Revision + 1000 }));
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => client.RevokeLeaseAsync(0x7eadbeef));
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => client.PutAsync("err/k", "v", leaseId: 0x7eadbeef));
        await client.PutAsync("err/k", "v2");
        await client.CompactAsync(put.Revision + 1);
        await Assert.ThrowsAsync<CompactedException>(() => client.GetAsync("err/k", new GetOptions { Revision = put.Revision }));
    }

    [EtcdFact]
    public async Task A_cancelled_token_cancels_the_call()
    {
        await using var client = fixture.NewClient();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetAsync("any", cancellationToken: cancelled.Token));
    }
}
