using Conclave.Client.DistributedLock;
using Conclave.Client.Recipes;
using Medallion.Threading;

namespace Conclave.Client.Tests;

/// <summary>The DistributedLock.Core adapter, against both cluster targets.</summary>
public abstract partial class RecipeFaultTests<TFixture>
{
    [ClusterFact]
    public async Task DistributedLock_adapter_acquires_times_out_and_releases_like_the_abstraction_says()
    {
        await using var clientA = _fixture.NewClient();
        await using var clientB = _fixture.NewClient(rotate: 1);
        IDistributedLockProvider provider = new ConclaveDistributedSynchronizationProvider(clientA, "dl/", ttlSeconds: 5);
        var lockA = provider.CreateLock("report");
        IDistributedLock lockB = new ConclaveDistributedLock(clientB, "dl/report", ttlSeconds: 5);
        Assert.Equal("dl/report", lockA.Name);

        await using (var held = await lockA.AcquireAsync().AsTask().Within($"a free lock to be acquired ({Target})"))
        {
            // Zero timeout: refused at once, and the queued key is gone again.
            Assert.Null(await lockB.TryAcquireAsync());
            Assert.Single((await clientB.GetPrefixAsync("dl/report/")).Kvs);
            Assert.Null(await lockB.TryAcquireAsync(TimeSpan.FromMilliseconds(300)));
            await Assert.ThrowsAsync<TimeoutException>(() => lockB.AcquireAsync(TimeSpan.FromMilliseconds(300)).AsTask());
            Assert.Null(lockB.TryAcquire());

            // The same layout as DistributedMutex: the two exclude each other.
            Assert.Null(await DistributedMutex.TryAcquireAsync(clientB, "dl/report", TimeSpan.Zero));

            // A synchronous Acquire on another thread waits for the holder.
            var waiting = Task.Run(() => lockB.Acquire());
            await WaitForKeysAsync(clientB, "dl/report/", 2).Within("the synchronous waiter to queue");
            Assert.False(waiting.IsCompleted);
            await held.DisposeAsync();
            using var next = await waiting.Within($"the waiter to get the lock once the holder released it ({Target})");
            var handle = Assert.IsType<ConclaveDistributedLockHandle>(next);
            Assert.True(handle.FencingToken > ((ConclaveDistributedLockHandle)held).FencingToken);
            Assert.True(await handle.Mutex.GuardedPutAsync("dl/data", "from B"));
        }

        Assert.Empty((await clientA.GetPrefixAsync("dl/report/")).Kvs);
        using (var sync = lockA.TryAcquire())
        {
            Assert.NotNull(sync);
        }
        Assert.Empty((await clientA.GetPrefixAsync("dl/report/")).Kvs);
    }

    [ClusterFact]
    public async Task DistributedLock_handle_reports_a_lost_lock_through_HandleLostToken()
    {
        await using var client = _fixture.NewClient();
        IDistributedLock theLock = new ConclaveDistributedLock(client, "dl/lost", ttlSeconds: 5);
        await using var handle = await theLock.AcquireAsync();
        Assert.False(handle.HandleLostToken.IsCancellationRequested);
        var key = (await client.GetPrefixAsync("dl/lost/")).Kvs[0];
        await client.RevokeLeaseAsync(key.Lease);
        await handle.HandleLostToken.WhenCancelled().Within($"HandleLostToken to fire once the lock's lease was revoked ({Target})");
        Assert.False(await ((ConclaveDistributedLockHandle)handle).Mutex.GuardedPutAsync("dl/lost-data", "stale"));
        await using var again = await theLock.TryAcquireAsync().AsTask().Within("the lock to be free again");
        Assert.NotNull(again);
    }
}
