using Conclave.Client.Recipes;
using Conclave.Testing.Etcd;

namespace Conclave.Client.Tests;

[Collection("etcd")]
public sealed class MutexTests(EtcdFixture fixture)
{
    [EtcdFact]
    public async Task Many_contenders_never_hold_the_lock_together_and_fencing_tokens_grow()
    {
        const int Contenders = 6;
        const int Rounds = 4;
        await using var client = fixture.NewClient();
        await client.PutAsync("mx1/counter", "0");
        var holders = 0;
        var tokens = new List<long>();

        async Task ContendAsync()
        {
            for (var round = 0; round < Rounds; round++)
            {
                await using var mutex = await DistributedMutex.AcquireAsync(client, "mx1/lock", ttlSeconds: 10);
                Assert.Equal(1, Interlocked.Increment(ref holders));
                lock (tokens)
                {
                    Assert.True(tokens.Count == 0 || mutex.FencingToken > tokens[^1],
                        $"fencing token {mutex.FencingToken} is not above the previous holder's {tokens.LastOrDefault()}");
                    tokens.Add(mutex.FencingToken);
                }
                // Read-modify-write of a shared counter, written only while the lock is held.
                var counter = int.Parse((await client.GetAsync("mx1/counter")).Kvs[0].ValueText);
                Assert.True(await mutex.GuardedPutAsync("mx1/counter", (counter + 1).ToString()));
                Assert.Equal(0, Interlocked.Decrement(ref holders));
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Contenders).Select(_ => Task.Run(ContendAsync))).Within("every contender to finish its rounds");
        Assert.Equal((Contenders * Rounds).ToString(), (await client.GetAsync("mx1/counter")).Kvs[0].ValueText);
        Assert.Empty((await client.GetPrefixAsync("mx1/lock/")).Kvs);
    }

    [EtcdFact]
    public async Task A_holder_whose_lease_is_gone_is_told_and_its_guarded_put_is_refused()
    {
        await using var client = fixture.NewClient();
        await client.PutAsync("mx2/data", "original");
        var mutex = await DistributedMutex.AcquireAsync(client, "mx2/lock");
        Assert.True(await mutex.GuardedPutAsync("mx2/data", "written while holding"));

        // The lease expires while the holder is paused: here, revoked by someone else.
        var lockKey = (await client.GetAsync(mutex.Key)).Kvs[0];
        await client.RevokeLeaseAsync(lockKey.Lease);
        await mutex.Lost.WhenCancelled().Within("the mutex to report the lost lock");

        Assert.False(await mutex.GuardedPutAsync("mx2/data", "stale holder"));
        Assert.Equal("written while holding", (await client.GetAsync("mx2/data")).Kvs[0].ValueText);

        await using var next = await DistributedMutex.AcquireAsync(client, "mx2/lock").Within("a new holder after the lease was revoked");
        Assert.True(next.FencingToken > mutex.FencingToken);
        await mutex.DisposeAsync();
    }

    [EtcdFact]
    public async Task Deleting_the_lock_key_signals_loss_while_the_lease_lives()
    {
        await using var client = fixture.NewClient();
        await using var mutex = await DistributedMutex.AcquireAsync(client, "mx4/lock");
        await client.DeleteAsync(mutex.Key);
        await mutex.Lost.WhenCancelled().Within("the mutex to report its deleted key");
        Assert.False(await mutex.GuardedPutAsync("mx4/data", "x"));
    }

    [EtcdFact]
    public async Task Interoperates_with_etcdctl_lock()
    {
        await using var client = fixture.NewClient();
        var mutex = await DistributedMutex.AcquireAsync(client, "mx3");
        var etcdctl = fixture.Etcd.Etcdctl().RunAsync("lock", "mx3", "echo", "etcdctl-got-it");

        // etcdctl queues its own key "mx3/<lease hex>" behind ours, then waits.
        var queued = await WaitForKeysAsync(client, "mx3/", 2).Within("etcdctl to queue behind our holder");
        Assert.Equal(mutex.Key, queued[0].Key);
        Assert.False(etcdctl.IsCompleted);

        await mutex.DisposeAsync();
        var result = (await etcdctl.Within("etcdctl lock to get the lock once we released it")).EnsureSuccess();
        Assert.Contains("etcdctl-got-it", result.StdOut);
    }

    private static async Task<IReadOnlyList<KeyValue>> WaitForKeysAsync(ConclaveClient client, string prefix, int count)
    {
        using var stop = new CancellationTokenSource();
        var now = await client.GetPrefixAsync(prefix, new GetOptions { SortTarget = SortTarget.Create });
        if (now.Kvs.Count >= count)
        {
            return now.Kvs;
        }
        await foreach (var _ in client.WatchPrefixAsync(prefix, new WatchOptions { StartRevision = now.Revision + 1 }, stop.Token))
        {
            var current = await client.GetPrefixAsync(prefix, new GetOptions { SortTarget = SortTarget.Create });
            if (current.Kvs.Count >= count)
            {
                return current.Kvs;
            }
        }
        throw new InvalidOperationException("the watch ended");
    }
}
