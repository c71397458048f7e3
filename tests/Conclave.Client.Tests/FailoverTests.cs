namespace Conclave.Client.Tests;

/// <summary>A three-member real etcd cluster with one member killed under a live client.</summary>
public sealed class FailoverTests
{
    [EtcdFact]
    public async Task Reads_writes_and_a_watch_continue_when_a_member_is_killed()
    {
        await using var cluster = await EtcdCluster.StartAsync().Within("a three-member etcd cluster to start");
        var leader = await cluster.LeaderIndexAsync();
        var victim = (leader + 1) % 3;
        var survivor = (leader + 2) % 3;
        await using var client = new ConclaveClient(cluster.Endpoints, TestOptions.Client);

        // The watch client's first request goes to its second endpoint, its watch to the first:
        // the member that will be killed.
        await using var watchClient = new ConclaveClient([cluster.Endpoints[victim], cluster.Endpoints[survivor]], TestOptions.Client);
        var start = await watchClient.PutAsync("fo/seed", "0");
        using var stop = new CancellationTokenSource();
        await using var events = watchClient.WatchPrefixAsync("fo/", new WatchOptions { StartRevision = start.Revision + 1 }, stop.Token)
            .GetAsyncEnumerator(stop.Token);
        var before = await client.PutAsync("fo/k", "before");
        Assert.True(await events.MoveNextAsync().AsTask().Within("the put before the kill"));
        Assert.Equal(before.Revision, events.Current.Revision);
        Assert.Equal(cluster.Endpoints[victim], watchClient.LastWatchMember?.Authority);

        cluster.Kill(victim);

        var revisions = new List<long>();
        for (var i = 0; i < 6; i++)
        {
            revisions.Add((await client.PutAsync("fo/k", $"after-{i}").Within($"put {i} after the kill")).Revision);
            Assert.Equal($"after-{i}", (await client.GetAsync("fo/k").Within($"get {i} after the kill")).Kvs[0].ValueText);
        }
        var seen = new List<long>();
        while (seen.Count < revisions.Count)
        {
            Assert.True(await events.MoveNextAsync().AsTask().Within("the watch to resume on a live member and deliver every later put"));
            seen.Add(events.Current.Revision);
        }
        Assert.Equal(revisions, seen);
        Assert.Equal(cluster.Endpoints[survivor], watchClient.LastWatchMember?.Authority);
        await stop.CancelAsync();
    }

    [EtcdFact]
    public async Task Reads_wait_out_the_election_when_the_leader_is_killed_and_writes_follow()
    {
        await using var cluster = await EtcdCluster.StartAsync().Within("a three-member etcd cluster to start");
        await using var client = new ConclaveClient(cluster.Endpoints, TestOptions.Client);
        var before = await client.PutAsync("fl/k", "before");

        cluster.Kill(await cluster.LeaderIndexAsync());

        // A linearizable read needs a leader: it is retried on the survivors until they elected one.
        var read = await client.GetAsync("fl/k").Within("a read after the leader was killed");
        Assert.Equal(("before", before.Revision), (read.Kvs[0].ValueText, read.Kvs[0].ModRevision));
        var after = await client.PutAsync("fl/k", "after").Within("a write once a new leader is elected");
        Assert.True(after.Revision > before.Revision);
    }

    [EtcdFact]
    public async Task A_lease_keeper_that_cannot_reach_any_member_reports_loss_when_the_ttl_runs_out()
    {
        var deadPort = Conclave.Testing.Etcd.FreePort.Take(1)[0];
        await using var client = new ConclaveClient([$"127.0.0.1:{deadPort}"], TestOptions.Client with { DialTimeout = TimeSpan.FromMilliseconds(200) });
        await using var keeper = client.KeepAlive(id: 0x1234, ttlSeconds: 1);
        await keeper.Lost.WhenCancelled().Within("the keeper to give up once the 1 s TTL passed without a renewal");
        Assert.Contains("could not be renewed within its TTL", keeper.LostReason);
    }
}
