using Conclave.Server.Api;
using Conclave.Storage.Mvcc;
using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

public sealed class SingleMemberTests
{
    [Fact]
    public async Task A_single_member_elects_itself_and_serves_puts_and_reads()
    {
        await using var c = await TestCluster.StartAsync(1);
        var m = c.Members["m1"];
        Assert.True(m.IsLeader);

        var rev1 = await m.PutAsync("a", "1");
        var rev2 = await m.PutAsync("b", "2");
        Assert.Equal(rev1 + 1, rev2);
        Assert.Equal("1", await m.GetAsync("a"));
        Assert.Equal("2", await m.GetAsync("b", serializable: true));

        // Every key: key "\0", range end "\0" (etcdctl get "" --prefix).
        var range = await m.KeyValue.RangeAsync(new RangeRequest { Key = new byte[] { 0 }, RangeEnd = new byte[] { 0 } }, false, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, range.Status);
        Assert.Equal(2, range.Value!.Count);
        Assert.Equal(m.ClusterId, range.Header.ClusterId);
        Assert.Equal(m.MemberId, range.Header.MemberId);
        Assert.Equal(rev2, range.Header.Revision);
        Assert.True(range.Header.RaftTerm > 0);
    }

    [Fact]
    public async Task Txn_delete_and_compact_go_through_the_log()
    {
        await using var c = await TestCluster.StartAsync(1);
        var m = c.Members["m1"];
        var rev = await m.PutAsync("k", "v1");

        var txn = new TxnRequest
        {
            Compare = [new Compare { Key = B("k"), Target = CompareTarget.Mod, Result = CompareResult.Equal, Number = rev }],
            Success = [RequestOp.Put(new PutRequest { Key = B("k"), Value = B("v2") })],
            Failure = [RequestOp.Range(RangeRequest.Single(B("k")))],
        };
        var t1 = await m.KeyValue.TxnAsync(txn, false, CancellationToken.None);
        Assert.True(t1.IsOk);
        Assert.True(t1.Value!.Succeeded);
        var t2 = await m.KeyValue.TxnAsync(txn, false, CancellationToken.None);
        Assert.True(t2.IsOk);
        Assert.False(t2.Value!.Succeeded);
        Assert.Equal("v2", S(((RangeResponseOp)t2.Value.Responses[0]).Response.Kvs[0].Value));

        // A txn of ranges only is a read: the revision does not move.
        var before = m.StateMachine.Store.CurrentRevision;
        var read = await m.KeyValue.TxnAsync(new TxnRequest { Success = [RequestOp.Range(RangeRequest.Single(B("k")))] }, false, CancellationToken.None);
        Assert.True(read.IsOk);
        Assert.Equal(before, m.StateMachine.Store.CurrentRevision);
        Assert.Equal(before, read.Header.Revision);

        var del = await m.KeyValue.DeleteRangeAsync(new DeleteRangeRequest { Key = B("k"), PrevKv = true }, CancellationToken.None);
        Assert.True(del.IsOk);
        Assert.Equal(1, del.Value!.Deleted);
        Assert.Null(await m.GetAsync("k"));

        var compact = await m.KeyValue.CompactAsync(del.Value.Revision, physical: true, CancellationToken.None);
        Assert.True(compact.IsOk);
        var old = await m.KeyValue.RangeAsync(RangeRequest.Single(B("k"), rev), false, CancellationToken.None);
        Assert.Equal(ServerStatus.Compacted, old.Status);
        var again = await m.KeyValue.CompactAsync(del.Value.Revision, physical: false, CancellationToken.None);
        Assert.Equal(ServerStatus.Compacted, again.Status);
    }

    [Fact]
    public async Task A_request_above_max_request_bytes_is_refused_without_a_log_entry()
    {
        await using var c = await TestCluster.StartAsync(1, configure: o => o with { MaxRequestBytes = 1024 });
        var m = c.Members["m1"];
        var applied = m.AppliedIndex;
        var r = await m.KeyValue.PutAsync(new PutRequest { Key = B("big"), Value = new byte[2048] }, CancellationToken.None);
        Assert.Equal(ServerStatus.RequestTooLarge, r.Status);
        Assert.Equal(applied, m.AppliedIndex);
    }

    [Fact]
    public async Task A_restarted_member_has_everything_it_acknowledged()
    {
        await using var c = await TestCluster.StartAsync(1);
        var m = c.Members["m1"];
        for (var i = 0; i < 20; i++)
        {
            await m.PutAsync($"k{i}", $"v{i}");
        }
        var revision = m.StateMachine.Store.CurrentRevision;
        await c.StopMemberAsync("m1");

        var again = await c.StartMemberAsync("m1");
        await c.LeaderAsync();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal($"v{i}", await again.GetAsync($"k{i}"));
        }
        Assert.Equal(revision, again.StateMachine.Store.CurrentRevision);
        Assert.Single(again.StateMachine.Members);
    }

    [Fact]
    public async Task A_restart_after_snapshots_restores_the_snapshot_and_replays_the_log_after_it()
    {
        await using var c = await TestCluster.StartAsync(1, configure: o => o with { SnapshotCount = 7, SnapshotCatchUpEntries = 2 });
        var m = c.Members["m1"];
        for (var i = 0; i < 30; i++)
        {
            await m.PutAsync($"k{i}", $"v{i}");
        }
        // Snapshots are written in the background: wait for one to be recorded.
        Assert.True(await m.WaitForSnapshotAsync(7, TimeSpan.FromSeconds(30), CancellationToken.None), "expected a snapshot at index 7 or later within 30 s");
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(c.Root, "m1", "member", "snap"), "*.snap"));
        await c.StopMemberAsync("m1");

        var again = await c.StartMemberAsync("m1");
        await c.LeaderAsync();
        for (var i = 0; i < 30; i++)
        {
            Assert.Equal($"v{i}", await again.GetAsync($"k{i}"));
        }
        await again.PutAsync("after", "restart");
        Assert.Equal("restart", await again.GetAsync("after"));
    }
}

public sealed class GroupCommitTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Concurrent_writes_share_log_appends_and_fsyncs()
    {
        await using var c = await TestCluster.StartAsync(1);
        var m = c.Members["m1"];
        var syncsBefore = m.WalSyncCount;
        const int writes = 400;
        var puts = Enumerable.Range(0, writes)
            .Select(i => m.KeyValue.PutAsync(new PutRequest { Key = Kv.B($"g{i}"), Value = Kv.B("v") }, CancellationToken.None))
            .ToList();
        var results = await Task.WhenAll(puts);
        Assert.All(results, r => Assert.True(r.IsOk, r.Status.ToString()));
        Assert.Equal(writes, results.Select(r => r.Value!.Revision).Distinct().Count());
        var syncs = m.WalSyncCount - syncsBefore;
        output.WriteLine($"{writes} concurrent puts: {syncs} WAL syncs");
        // Every write is durable before it is acknowledged, yet writes that wait together share a sync.
        Assert.True(syncs < writes / 2, $"{writes} concurrent writes took {syncs} WAL syncs");
    }
}
