using Conclave.Testing.Etcd;

namespace Conclave.Client.Tests;

[Collection("etcd")]
public sealed class WatchAndLeaseTests(EtcdFixture fixture)
{
    [EtcdFact]
    public async Task Watch_yields_puts_and_deletes_in_order()
    {
        await using var client = fixture.NewClient();
        using var stop = new CancellationTokenSource();
        var start = await client.PutAsync("w1/seed", "0");
        await using var events = client.WatchPrefixAsync("w1/", new WatchOptions { StartRevision = start.Revision + 1, PrevKv = true }, stop.Token)
            .GetAsyncEnumerator(stop.Token);
        var a = await client.PutAsync("w1/a", "1");
        await client.PutAsync("w1/a", "2");
        var deleted = await client.DeleteAsync("w1/a");

        var seen = new List<WatchEvent>();
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await events.MoveNextAsync().AsTask().Within($"watch event {i + 1} of 3 on w1/"));
            seen.Add(events.Current);
        }
        Assert.Equal([WatchEventType.Put, WatchEventType.Put, WatchEventType.Delete], seen.Select(e => e.Type));
        Assert.Equal([a.Revision, a.Revision + 1, deleted.Revision], seen.Select(e => e.Revision));
        Assert.Equal("1", seen[1].PrevKv!.ValueText);
        await stop.CancelAsync();
    }

    [EtcdFact]
    public async Task Watch_resuming_from_a_compacted_revision_yields_one_resync_with_the_current_state()
    {
        await using var client = fixture.NewClient();
        var first = await client.PutAsync("w2/a", "1");
        await client.PutAsync("w2/b", "1");

        // A consumer saw revision `first` and then went away.
        using (var firstRun = new CancellationTokenSource())
        {
            await using var events = client.WatchPrefixAsync("w2/", new WatchOptions { StartRevision = first.Revision }, firstRun.Token)
                .GetAsyncEnumerator(firstRun.Token);
            Assert.True(await events.MoveNextAsync().AsTask().Within("the first put on w2/"));
            Assert.Equal(first.Revision, events.Current.Revision);
            await firstRun.CancelAsync();
        }

        // While it was away: changes, then compaction past what it saw.
        await client.PutAsync("w2/a", "2");
        await client.DeleteAsync("w2/b");
        var last = await client.PutAsync("w2/c", "3");
        await client.CompactAsync(last.Revision);

        using var stop = new CancellationTokenSource();
        await using var resumed = client.WatchPrefixAsync("w2/", new WatchOptions { StartRevision = first.Revision + 1 }, stop.Token)
            .GetAsyncEnumerator(stop.Token);
        Assert.True(await resumed.MoveNextAsync().AsTask().Within("a resync event after compaction"));
        var resync = resumed.Current;
        Assert.Equal(WatchEventType.Resync, resync.Type);
        Assert.True(resync.Revision >= last.Revision);
        Assert.Equal(["w2/a=2", "w2/c=3"], resync.Snapshot.Select(kv => $"{kv.Key}={kv.ValueText}"));

        var live = await client.PutAsync("w2/d", "4");
        Assert.True(await resumed.MoveNextAsync().AsTask().Within("the live put after the resync"));
        Assert.Equal((WatchEventType.Put, live.Revision, "w2/d"), (resumed.Current.Type, resumed.Current.Revision, resumed.Current.Kv!.Key));
        await stop.CancelAsync();
    }

    [EtcdFact]
    public async Task Lease_grant_ttl_keepalive_revoke()
    {
        await using var client = fixture.NewClient();
        var lease = await client.GrantLeaseAsync(60);
        await client.PutAsync("l1/k", "v", leaseId: lease.Id);
        var info = await client.LeaseTimeToLiveAsync(lease.Id, keys: true);
        Assert.Equal(60, info.GrantedTtlSeconds);
        Assert.Equal(["l1/k"], info.Keys);
        Assert.InRange(info.TtlSeconds, 1, 60);
        Assert.Equal(60, await client.KeepAliveOnceAsync(lease.Id));
        await client.RevokeLeaseAsync(lease.Id);
        Assert.Empty((await client.GetAsync("l1/k")).Kvs);
        Assert.Equal(-1, (await client.LeaseTimeToLiveAsync(lease.Id)).TtlSeconds);
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => client.KeepAliveOnceAsync(lease.Id));
    }

    [EtcdFact]
    public async Task Lease_keeper_signals_loss_when_the_lease_is_revoked_elsewhere()
    {
        await using var client = fixture.NewClient();
        await using var keeper = await client.GrantKeptLeaseAsync(5);
        Assert.False(keeper.Lost.IsCancellationRequested);
        await client.RevokeLeaseAsync(keeper.Id);
        await keeper.Lost.WhenCancelled().Within("the keeper to report the revoked lease as lost");
        Assert.Contains("is gone", keeper.LostReason);
    }
}
