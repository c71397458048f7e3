using Conclave.Testing.Etcd;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// Issue 4: python3-etcd3 on a follower and dotnet-etcd with every member as an endpoint,
/// against one 3-member cluster of real processes.
/// </summary>
[Collection(RealClusterCollection.Name)]
public sealed class ClusterClientTests(ThreeMemberClusterFixture fixture) : IClassFixture<ThreeMemberClusterFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static ByteString B(string s) => ByteString.CopyFromUtf8(s);

    /// <summary>dotnet-etcd's connection string with every member's client URL (it balances over them).</summary>
    private EtcdClient AllEndpoints() => new(string.Join(',', fixture.Cluster.ClientUrls));

    [EtcdFact]
    public async Task Python_etcd3_on_a_follower_put_get_txn_watch_lease_and_lock()
    {
        var leader = await fixture.Cluster.WaitForLeaderAsync();
        var follower = fixture.Cluster.Members.First(m => m != leader);
        var python = new Conclave.Testing.Etcd.PythonEtcd3("127.0.0.1", follower.ClientPort);

        var result = (await python.RunAsync("""
            client.put("/pyc/a", "1")
            value, meta = client.get("/pyc/a")
            print("get", value.decode(), meta.version)
            t = client.transactions
            ok, _ = client.transaction(compare=[t.value("/pyc/a") == "1"], success=[t.put("/pyc/a", "2")], failure=[])
            print("txn", ok, client.get("/pyc/a")[0].decode())
            ok, responses = client.transaction(compare=[t.version("/pyc/a") == 7], success=[t.put("/pyc/a", "x")], failure=[t.get("/pyc/a")])
            print("txn-else", ok, [value.decode() for (value, _) in responses[0]])
            events, cancel = client.watch_prefix("/pyc/w/")
            client.put("/pyc/w/k", "x")
            for ev in events:
                print("watch", type(ev).__name__, ev.key.decode(), ev.value.decode())
                break
            cancel()
            lease = client.lease(30)
            client.put("/pyc/leased", "v", lease=lease)
            print("lease", lease.granted_ttl, lease.remaining_ttl > 0, [k.decode() for k in lease.keys])
            lease.refresh()
            lease.revoke()
            print("revoked", client.get("/pyc/leased")[0])
            first = client.lock("pyc-lock", ttl=20)
            second = client.lock("pyc-lock", ttl=20)
            # timeout=0: Debian's python3-etcd3 cannot wait for a lock with this tenacity (its wait()
            # takes the old signature), so the second contender tries once, before and after the release.
            print("lock", first.acquire(timeout=0), second.acquire(timeout=0))
            first.release()
            print("after-release", second.acquire(timeout=0), second.is_acquired())
            second.release()
            """)).EnsureSuccess();

        Assert.Equal(
            """
            get 1 1
            txn True 2
            txn-else False ['2']
            watch PutEvent /pyc/w/k x
            lease 30 True ['/pyc/leased']
            revoked None
            lock True False
            after-release True True

            """.ReplaceLineEndings("\n"),
            result.StdOut);
    }

    [EtcdFact]
    public async Task Dotnet_etcd_with_every_endpoint_put_get_txn_and_watch()
    {
        using var client = AllEndpoints();

        var put = await client.PutAsync("/dnc/kv/a", "1");
        var get = await client.GetAsync("/dnc/kv/a");
        var txn = await client.TransactionAsync(new TxnRequest
        {
            Compare = { new Compare { Key = B("/dnc/kv/a"), Target = Compare.Types.CompareTarget.Value, Result = Compare.Types.CompareResult.Equal, Value = B("1") } },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = B("/dnc/kv/a"), Value = B("2") } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = B("/dnc/kv/a") } } },
        });
        var failedTxn = await client.TransactionAsync(new TxnRequest
        {
            Compare = { new Compare { Key = B("/dnc/kv/a"), Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Equal, Version = 7 } },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = B("/dnc/kv/a"), Value = B("x") } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = B("/dnc/kv/a") } } },
        });

        // A watch from the put's revision sees the put and the txn's put, in order.
        var events = new List<string>();
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancel = new CancellationTokenSource();
        Action<WatchResponse> onResponse = response =>
        {
            lock (events)
            {
                events.AddRange(response.Events.Select(e => $"{e.Type} {e.Kv.Key.ToStringUtf8()}={e.Kv.Value.ToStringUtf8()}@{e.Kv.ModRevision}"));
                if (events.Count >= 2)
                {
                    seen.TrySetResult();
                }
            }
        };
        var watch = client.WatchAsync(
            new WatchRequest { CreateRequest = new WatchCreateRequest { Key = B("/dnc/kv/"), RangeEnd = B("/dnc/kv0"), StartRevision = put.Header.Revision } },
            onResponse, cancellationToken: cancel.Token);
        var first = await Task.WhenAny(seen.Task, Task.Delay(Wait));
        await cancel.CancelAsync();
        await IgnoreCancellationAsync(watch);

        Assert.True(first == seen.Task, $"expected the put and the txn's put as watch events within {Wait.TotalSeconds} s; saw: {string.Join("; ", events)}");
        Assert.Equal("1", get.Kvs.Single().Value.ToStringUtf8());
        Assert.True(txn.Succeeded);
        Assert.False(failedTxn.Succeeded);
        Assert.Equal("2", failedTxn.Responses.Single().ResponseRange.Kvs.Single().Value.ToStringUtf8());
        Assert.Equal([$"Put /dnc/kv/a=1@{put.Header.Revision}", $"Put /dnc/kv/a=2@{txn.Header.Revision}"], events.Take(2));
    }

    [EtcdFact]
    public async Task Dotnet_etcd_with_every_endpoint_lease_grant_and_keep_alive()
    {
        using var client = AllEndpoints();

        var lease = await client.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 });
        await client.PutAsync(new PutRequest { Key = B("/dnc/lease/k"), Value = B("v"), Lease = lease.ID });
        var keptAlive = new TaskCompletionSource<LeaseKeepAliveResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancel = new CancellationTokenSource();
        var keepAlive = client.LeaseKeepAlive(new LeaseKeepAliveRequest { ID = lease.ID }, r => keptAlive.TrySetResult(r), cancel.Token, null);
        var first = await Task.WhenAny(keptAlive.Task, Task.Delay(Wait));
        await cancel.CancelAsync();
        await IgnoreCancellationAsync(keepAlive);
        var ttl = await client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = lease.ID, Keys = true });
        await client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease.ID });
        var afterRevoke = await client.GetAsync("/dnc/lease/k");

        Assert.True(first == keptAlive.Task, $"expected a keep-alive response within {Wait.TotalSeconds} s");
        var response = await keptAlive.Task;
        Assert.Equal(lease.ID, response.ID);
        Assert.Equal(30, response.TTL);
        Assert.Equal(30, ttl.GrantedTTL);
        Assert.InRange(ttl.TTL, 1, 30);
        Assert.Equal(["/dnc/lease/k"], ttl.Keys.Select(k => k.ToStringUtf8()));
        Assert.Empty(afterRevoke.Kvs);
    }

    [EtcdFact]
    public async Task Dotnet_etcd_lock_is_mutually_exclusive_between_two_contenders()
    {
        using var a = AllEndpoints();
        using var b = AllEndpoints();
        var leaseA = (await a.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 })).ID;
        var leaseB = (await b.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 })).ID;
        var leaseC = (await b.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 })).ID;

        var held = await a.LockAsync("/dnc/lock", leaseA);
        // While A holds the lock, B's Lock call cannot return: it runs into its deadline.
        // (dotnet-etcd surfaces the deadline as an RpcException DeadlineExceeded or as a TaskCanceledException.)
        var blocked = await Assert.ThrowsAnyAsync<Exception>(() => b.LockAsync("/dnc/lock", leaseB, deadline: DateTime.UtcNow.AddSeconds(2)));
        await b.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseB });
        var waiting = b.LockAsync("/dnc/lock", leaseC);
        var ownerWhileWaiting = await a.GetAsync(new RangeRequest { Key = B("/dnc/lock/"), RangeEnd = B("/dnc/lock0"), SortTarget = RangeRequest.Types.SortTarget.Create });
        var completedBeforeUnlock = waiting.IsCompleted;
        await a.UnlockAsync(held.Key.ToStringUtf8());
        var second = await waiting.WaitAsync(Wait);
        await b.UnlockAsync(second.Key.ToStringUtf8());
        var afterUnlock = await a.GetAsync(new RangeRequest { Key = B("/dnc/lock/"), RangeEnd = B("/dnc/lock0") });
        await a.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseA });
        await b.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseC });

        Assert.True(
            blocked is OperationCanceledException || blocked is RpcException { StatusCode: StatusCode.DeadlineExceeded },
            $"B's Lock call ended with {blocked.GetType().Name}: {blocked.Message}, not its deadline");
        Assert.False(completedBeforeUnlock, "B got the lock while A held it");
        Assert.Equal($"/dnc/lock/{leaseA:x}", held.Key.ToStringUtf8());
        Assert.Equal($"/dnc/lock/{leaseC:x}", second.Key.ToStringUtf8());
        Assert.Equal(held.Key, ownerWhileWaiting.Kvs[0].Key);
        Assert.True(second.Header.Revision > held.Header.Revision);
        Assert.Empty(afterUnlock.Kvs);
    }

    [EtcdFact]
    public async Task Dotnet_etcd_election_campaign_leader_proclaim_and_resign_hands_over()
    {
        using var a = AllEndpoints();
        using var b = AllEndpoints();
        var leaseA = (await a.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 })).ID;
        var leaseB = (await b.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 })).ID;

        var leaseX = (await b.LeaseGrantAsync(new LeaseGrantRequest { TTL = 30 })).ID;

        var campaignA = await a.CampaignAsync("/dnc/elect", leaseA, "a");
        var leaderA = await b.LeaderAsync("/dnc/elect");
        // While A leads, another campaign cannot return: it runs into its deadline.
        var blocked = await Assert.ThrowsAnyAsync<Exception>(() => b.CampaignAsync("/dnc/elect", leaseX, "x", deadline: DateTime.UtcNow.AddSeconds(2)));
        await b.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseX });
        var campaignB = b.CampaignAsync("/dnc/elect", leaseB, "b");
        await a.ProclaimAsync(campaignA.Leader, "a2");
        var proclaimed = await b.LeaderAsync("/dnc/elect");
        var completedBeforeResign = campaignB.IsCompleted;
        await a.ResignAsync(campaignA.Leader);
        var wonB = await campaignB.WaitAsync(Wait);
        var leaderB = await a.LeaderAsync("/dnc/elect");
        await b.ResignAsync(wonB.Leader);
        await a.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseA });
        await b.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseB });

        Assert.True(
            blocked is OperationCanceledException || blocked is RpcException { StatusCode: StatusCode.DeadlineExceeded },
            $"a second Campaign ended with {blocked.GetType().Name}: {blocked.Message}, not its deadline");
        Assert.Equal("a", leaderA.Kv.Value.ToStringUtf8());
        Assert.Equal("a2", proclaimed.Kv.Value.ToStringUtf8());
        Assert.False(completedBeforeResign, "B won the election while A led");
        Assert.Equal($"/dnc/elect/{leaseB:x}", wonB.Leader.Key.ToStringUtf8());
        Assert.Equal("b", leaderB.Kv.Value.ToStringUtf8());
        Assert.Equal(wonB.Leader.Key, leaderB.Kv.Key);
    }

    private static async Task IgnoreCancellationAsync(Task task)
    {
        try
        {
            await task.WaitAsync(Wait);
        }
        catch (OperationCanceledException)
        {
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
        }
    }
}
