using Conclave.Client.Configuration;
using Conclave.Client.DistributedLock;
using Conclave.Client.Recipes;
using Conclave.Testing.Etcd;
using Medallion.Threading;
using Microsoft.Extensions.Configuration;

namespace Conclave.Client.Tests;

/// <summary>
/// The examples of docs/client.md, verbatim between the "// doc:" markers, so the
/// documentation compiles and runs. Keep the two in step.
/// </summary>
[Collection("etcd")]
public sealed class DocExampleTests(EtcdFixture fixture)
{
    private string Endpoint => fixture.Etcd.Endpoint;

    [EtcdFact]
    public async Task Kv_and_txn_example()
    {
        // doc:kv
        await using var client = new ConclaveClient(Endpoint);
        await client.PutAsync("app/config/Db/Url", "postgres://db");
        var result = await client.GetPrefixAsync("app/config/", new GetOptions { Limit = 10 });
        var created = await client.Txn()
            .If(Compare.Version("doc/k") == 0)
            .Then(Op.Put("doc/k", "v"))
            .Else(Op.Get("doc/k"))
            .CommitAsync();
        // end
        Assert.True(created.Succeeded);
        Assert.NotEmpty(result.Kvs);
    }

    [EtcdFact]
    public async Task Watch_example()
    {
        await using var client = new ConclaveClient(Endpoint);
        using var cts = new CancellationTokenSource();
        var mirror = new Dictionary<string, string>();
        var from = (await client.PutAsync("doc/watch/a", "1")).Revision;
        // doc:watch
        await foreach (var e in client.WatchPrefixAsync("doc/watch/", new WatchOptions { StartRevision = from }, cts.Token))
        {
            switch (e.Type)
            {
                case WatchEventType.Put: mirror[e.Kv!.Key] = e.Kv.ValueText; break;
                case WatchEventType.Delete: mirror.Remove(e.Kv!.Key); break;
                case WatchEventType.Resync: mirror = e.Snapshot.ToDictionary(kv => kv.Key, kv => kv.ValueText); break;
            }
            break; // a real consumer keeps going until cancelled
        }
        // end
        Assert.Equal("1", mirror["doc/watch/a"]);
    }

    [EtcdFact]
    public async Task Lease_and_mutex_example()
    {
        await using var client = new ConclaveClient(Endpoint);
        // doc:mutex
        await using (var mutex = await DistributedMutex.AcquireAsync(client, "locks/report", ttlSeconds: 10))
        {
            // mutex.FencingToken grows with every holder; mutex.Lost fires if the lock is lost.
            if (!await mutex.GuardedPutAsync("report/owner", "me"))
            {
                // we no longer hold the lock: nothing was written
            }
        }
        // end
        Assert.Equal("me", (await client.GetAsync("report/owner")).Kvs[0].ValueText);
    }

    [EtcdFact]
    public async Task DistributedLock_example()
    {
        await using var client = new ConclaveClient(Endpoint);
        // doc:distributedlock
        IDistributedLockProvider locks = new ConclaveDistributedSynchronizationProvider(client, keyPrefix: "locks/");
        await using (var handle = await locks.CreateLock("nightly-report").TryAcquireAsync(TimeSpan.FromSeconds(5)))
        {
            if (handle is not null)
            {
                // we hold "locks/nightly-report"; handle.HandleLostToken fires if we lose it
            }
        }
        // end
        Assert.Empty((await client.GetPrefixAsync("locks/nightly-report/")).Kvs);
    }

    [EtcdFact]
    public async Task Election_example()
    {
        await using var client = new ConclaveClient(Endpoint);
        // doc:election
        await using var session = await client.GrantKeptLeaseAsync(ttlSeconds: 10);
        var election = new Election(client, "elections/scheduler", session);
        await election.CampaignAsync("node-1");      // returns once we lead
        await election.ProclaimAsync("node-1 (v2)"); // change the value while leading
        var leader = await election.LeaderAsync();
        await election.ResignAsync();
        // end
        Assert.Equal("node-1 (v2)", leader!.Value);
    }

    [EtcdFact]
    public async Task Semaphore_barrier_queue_example()
    {
        await using var client = new ConclaveClient(Endpoint);
        await using var session = await client.GrantKeptLeaseAsync(ttlSeconds: 10);
        // doc:others
        await using (var permit = await DistributedSemaphore.AcquireAsync(client, "sem/db", permits: 3, session))
        {
            // at most three holders are here
        }
        var barrier = new Recipes.Barrier(client, "barriers/deploy");
        await barrier.HoldAsync();
        var waiting = barrier.WaitAsync(); // blocks until released
        await barrier.ReleaseAsync();
        await waiting;
        var queue = new DistributedQueue(client, "queues/jobs");
        await queue.EnqueueAsync("job-1");
        var job = await queue.DequeueAsync(); // waits while the queue is empty
        // end
        Assert.Equal("job-1", job);
    }

    [EtcdFact]
    public async Task Registry_and_configuration_example()
    {
        await using var client = new ConclaveClient(Endpoint);
        await client.PutAsync("app/config/Db/Url", "postgres://db");
        // doc:registry
        var registry = new ServiceRegistry(client);
        await using var registration = await registry.RegisterAsync(
            new ServiceInstance("api", "api-1", "10.0.0.5", 8080, ["v2"], new Dictionary<string, string> { ["zone"] = "a" }));
        var apis = await registry.DiscoverAsync("api");
        // registry.WatchAsync("api") yields the whole current set after every change.
        // end
        // doc:configuration
        var configuration = new ConfigurationBuilder()
            .AddConclave([Endpoint], "app/config/")
            .Build();
        var url = configuration["Db:Url"]; // from key "app/config/Db/Url", reloaded on change
        // end
        Assert.Equal("api-1", Assert.Single(apis).Id);
        Assert.Equal("postgres://db", url);
        (configuration as IDisposable)?.Dispose();
    }

    [EtcdFact]
    public async Task Election_interoperates_with_etcdctl_elect()
    {
        await using var client = fixture.NewClient();
        await using var session = await client.GrantKeptLeaseAsync(10);
        var election = new Election(client, "el-ctl", session);
        await election.CampaignAsync("ours");
        // etcdctl observes our leader with the same key layout.
        var observed = await fixture.Etcd.Etcdctl().RunUntilAsync(["elect", "-l", "el-ctl"], output => output.Contains("ours"));
        Assert.True(observed.StoppedWhenComplete, observed.Describe());
        Assert.Contains("el-ctl/" + session.HexId, observed.StdOut);
        await election.ResignAsync();
    }
}
