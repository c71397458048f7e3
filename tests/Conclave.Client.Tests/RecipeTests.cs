using Conclave.Client.Configuration;
using Conclave.Client.Recipes;
using Conclave.Testing.Etcd;
using Microsoft.Extensions.Configuration;

namespace Conclave.Client.Tests;

[Collection("etcd")]
public sealed class RecipeTests(EtcdFixture fixture)
{
    [EtcdFact]
    public async Task Election_hands_over_when_the_leaders_lease_is_revoked_and_observers_follow()
    {
        await using var client = fixture.NewClient();
        await using var sessionA = await client.GrantKeptLeaseAsync(10);
        await using var sessionB = await client.GrantKeptLeaseAsync(10);
        var a = new Election(client, "el1", sessionA);
        var b = new Election(client, "el1", sessionB);

        await a.CampaignAsync("node-a").Within("A to win an empty election");
        using var stop = new CancellationTokenSource();
        await using var observed = Election.Observe(client, "el1", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await observed.MoveNextAsync().AsTask().Within("the observer to see A"));
        Assert.Equal("node-a", observed.Current.Value);

        var bCampaign = b.CampaignAsync("node-b");
        await a.ProclaimAsync("node-a v2");
        Assert.True(await observed.MoveNextAsync().AsTask().Within("the observer to see A's new value"));
        Assert.Equal("node-a v2", observed.Current.Value);
        Assert.False(bCampaign.IsCompleted);

        await client.RevokeLeaseAsync(sessionA.Id);
        await bCampaign.Within("B to become leader after A's lease was revoked");
        Assert.True(await observed.MoveNextAsync().AsTask().Within("the observer to see B"));
        Assert.Equal(("node-b", b.Key), (observed.Current.Value, observed.Current.Key));
        Assert.True(b.LeaderRevision > a.LeaderRevision);
        await Assert.ThrowsAsync<LockLostException>(() => a.ProclaimAsync("stale"));

        await b.ResignAsync();
        Assert.Null(await Election.CurrentLeaderAsync(client, "el1"));
        await stop.CancelAsync();
    }

    [EtcdFact]
    public async Task Semaphore_admits_at_most_its_permits()
    {
        await using var client = fixture.NewClient();
        await using var session = await client.GrantKeptLeaseAsync(10);
        var first = await DistributedSemaphore.AcquireAsync(client, "sem1", permits: 2, session);
        var second = await DistributedSemaphore.AcquireAsync(client, "sem1", permits: 2, session);
        var third = DistributedSemaphore.AcquireAsync(client, "sem1", permits: 2, session);
        await WaitForCountAsync(client, "sem1/", 3).Within("the third acquirer to queue");
        Assert.False(third.IsCompleted);
        await first.DisposeAsync();
        await using var admitted = await third.Within("the third acquirer to get the permit released by the first");
        await second.DisposeAsync();
    }

    [EtcdFact]
    public async Task Barrier_and_double_barrier()
    {
        await using var client = fixture.NewClient();
        var barrier = new Recipes.Barrier(client, "bar1");
        Assert.True(await barrier.HoldAsync());
        var waiting = barrier.WaitAsync();
        Assert.False(waiting.IsCompleted);
        await barrier.ReleaseAsync();
        await waiting.Within("the barrier wait to return after release");

        var sessions = new List<LeaseKeeper>();
        for (var i = 0; i < 3; i++)
        {
            sessions.Add(await client.GrantKeptLeaseAsync(10));
        }
        var gates = sessions.Select(s => new DoubleBarrier(client, "dbar1", 3, s)).ToList();
        var firstTwo = gates.Take(2).Select(g => g.EnterAsync()).ToList();
        await WaitForCountAsync(client, "dbar1/waiters/", 2).Within("two participants to enter");
        Assert.All(firstTwo, t => Assert.False(t.IsCompleted));
        await gates[2].EnterAsync().Within("the last participant to enter");
        await Task.WhenAll(firstTwo).Within("all participants to be released once the third entered");
        await Task.WhenAll(gates.Select(g => g.LeaveAsync())).Within("all participants to leave");
        Assert.Empty((await client.GetPrefixAsync("dbar1/")).Kvs);
        foreach (var session in sessions)
        {
            await session.DisposeAsync();
        }
    }

    [EtcdFact]
    public async Task Queue_is_fifo_and_each_item_is_taken_once()
    {
        await using var client = fixture.NewClient();
        var queue = new DistributedQueue(client, "q1");
        var waiting = queue.DequeueAsync();
        for (var i = 0; i < 5; i++)
        {
            await queue.EnqueueAsync($"item-{i}");
        }
        Assert.Equal("item-0", await waiting.Within("a waiting dequeue to get the first item"));
        var rest = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => queue.DequeueAsync())).Within("four concurrent dequeues");
        Assert.Equal(["item-1", "item-2", "item-3", "item-4"], rest.Order());
    }

    [EtcdFact]
    public async Task Service_registry_sees_instances_come_and_go_with_their_leases()
    {
        await using var client = fixture.NewClient();
        var registry = new ServiceRegistry(client, "sr1/");
        using var stop = new CancellationTokenSource();
        await using var sets = registry.WatchAsync("api", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await sets.MoveNextAsync().AsTask().Within("the initial (empty) set"));
        Assert.Empty(sets.Current);

        await using var one = await registry.RegisterAsync(new ServiceInstance("api", "api-1", "10.0.0.1", 8080, ["v1"], new Dictionary<string, string> { ["zone"] = "a" }));
        var two = await registry.RegisterAsync(new ServiceInstance("api", "api-2", "10.0.0.2", 8080));
        Assert.True(await sets.MoveNextAsync().AsTask().Within("api-1 to appear"));
        Assert.True(await sets.MoveNextAsync().AsTask().Within("api-2 to appear"));
        Assert.Equal(["api-1", "api-2"], sets.Current.Select(i => i.Id));
        var discovered = await registry.DiscoverAsync("api");
        Assert.Equal("a", discovered[0].Metadata!["zone"]);
        Assert.Equal(["v1"], discovered[0].Tags!);

        await client.RevokeLeaseAsync(two.LeaseId);
        Assert.True(await sets.MoveNextAsync().AsTask().Within("api-2 to disappear with its lease"));
        Assert.Equal(["api-1"], sets.Current.Select(i => i.Id));
        await two.Lost.WhenCancelled().Within("api-2's registration to report its lost lease");
        await two.DisposeAsync();
        await stop.CancelAsync();
    }

    [EtcdFact]
    public async Task Configuration_provider_loads_the_prefix_and_reloads_on_change()
    {
        await using var client = fixture.NewClient();
        await client.PutAsync("cfg1/app/Db/Url", "postgres://one");
        await client.PutAsync("cfg1/app/Name", "demo");

        var configuration = new ConfigurationBuilder()
            .AddConclave([fixture.Etcd.Endpoint], "cfg1/app/", clientOptions: TestOptions.Client)
            .Build();
        Assert.Equal("postgres://one", configuration["Db:Url"]);
        Assert.Equal("postgres://one", configuration.GetSection("Db")["Url"]);

        var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = configuration.GetReloadToken().RegisterChangeCallback(_ => reloaded.TrySetResult(), null);
        await client.PutAsync("cfg1/app/Db/Url", "postgres://two");
        await reloaded.Task.Within("the reload token to fire after the put");
        Assert.Equal("postgres://two", configuration["Db:Url"]);
        Assert.Equal("demo", configuration["Name"]);
        (configuration as IDisposable)?.Dispose();
    }

    private static async Task WaitForCountAsync(ConclaveClient client, string prefix, int count)
    {
        using var stop = new CancellationTokenSource();
        var now = await client.GetPrefixAsync(prefix, new GetOptions { CountOnly = true });
        if (now.Count >= count)
        {
            return;
        }
        await foreach (var _ in client.WatchPrefixAsync(prefix, new WatchOptions { StartRevision = now.Revision + 1 }, stop.Token).WithCancellation(stop.Token))
        {
            if ((await client.GetPrefixAsync(prefix, new GetOptions { CountOnly = true })).Count >= count)
            {
                return;
            }
        }
    }
}
