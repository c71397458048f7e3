using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;
using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

public sealed class LeaseTests
{
    [Fact]
    public async Task Grant_keep_alive_time_to_live_and_revoke_work_from_any_member()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var follower = c.Follower(leader);

        var granted = await follower.Leases.GrantAsync(0, 60, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, granted.Status);
        var id = granted.Value!.LeaseId;
        Assert.True(id > 0);
        Assert.Equal(60, granted.Value.TtlSeconds);
        var again = await leader.Leases.GrantAsync(id, 60, CancellationToken.None);
        Assert.Equal(ServerStatus.LeaseExists, again.Status);

        await follower.PutAsync("owned", "x", lease: id);
        var keepAlive = await follower.Leases.KeepAliveAsync(id, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, keepAlive.Status);
        Assert.Equal(60, keepAlive.Value);

        var ttl = await follower.Leases.TimeToLiveAsync(id, keys: true, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, ttl.Status);
        Assert.Equal(60, ttl.Value!.GrantedTtlSeconds);
        Assert.InRange(ttl.Value.RemainingTtlSeconds, 55, 60);
        Assert.Equal("owned", S(Assert.Single(ttl.Value.Keys)));
        Assert.Contains(id, (await leader.Leases.LeasesAsync(CancellationToken.None)).Value!);

        var badPut = await leader.KeyValue.PutAsync(new PutRequest { Key = B("k"), Value = B("v"), Lease = id + 1 }, CancellationToken.None);
        Assert.Equal(ServerStatus.LeaseNotFound, badPut.Status);

        var revoked = await leader.Leases.RevokeAsync(id, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, revoked.Status);
        Assert.Equal(1, revoked.Value!.DeletedKeys);
        foreach (var m in c.Running)
        {
            Assert.Null(await m.GetAsync("owned"));
        }
        Assert.Equal(ServerStatus.LeaseNotFound, (await follower.Leases.KeepAliveAsync(id, CancellationToken.None)).Status);
        Assert.Equal(ServerStatus.LeaseNotFound, (await follower.Leases.TimeToLiveAsync(id, false, CancellationToken.None)).Status);
    }

    [Fact]
    public async Task An_expired_lease_deletes_its_keys_on_every_member_at_the_same_revision()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var kept = (await leader.Leases.GrantAsync(0, 5, CancellationToken.None)).Value!.LeaseId;
        var expiring = (await leader.Leases.GrantAsync(0, 1, CancellationToken.None)).Value!.LeaseId;
        await leader.PutAsync("a", "1", lease: expiring);
        await leader.PutAsync("b", "2", lease: expiring);
        await leader.PutAsync("c", "3", lease: kept);
        await leader.PutAsync("plain", "4");

        // Keep one lease (TTL 5 s) alive while the other (TTL 1 s) expires; keep-alives every 200 ms.
        using var stop = new CancellationTokenSource();
        var keeper = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await c.Follower(leader).Leases.KeepAliveAsync(kept, CancellationToken.None);
                await Task.Delay(200, CancellationToken.None);
            }
        });
        await EventuallyAsync(() => c.Running.All(m => !m.StateMachine.Leases.ContainsKey(expiring)), "the expired lease to be revoked on every member");
        await stop.CancelAsync();
        await keeper;

        var revisions = new List<long>();
        foreach (var m in c.Running)
        {
            Assert.Null(await m.GetAsync("a"));
            Assert.Null(await m.GetAsync("b"));
            Assert.Equal("4", await m.GetAsync("plain"));
            // Both keys went in one revision: the deletion is the same event everywhere.
            var events = m.StateMachine.Store.EventsSince(1, B("a"), B("c"), 0);
            var deletes = events.Events.Where(e => e.Type == EventType.Delete).Select(e => e.Kv.ModRevision).Distinct().ToList();
            revisions.Add(Assert.Single(deletes));
        }
        Assert.Single(revisions.Distinct());
        Assert.True(leader.StateMachine.Leases.ContainsKey(kept), "a lease kept alive must not expire");
    }

    [Fact]
    public async Task The_leader_checkpoints_remaining_ttls_periodically()
    {
        await using var c = await TestCluster.StartAsync(3, configure: o => o with { LeaseCheckpointInterval = TimeSpan.FromMilliseconds(100) });
        var leader = await c.LeaderAsync();
        var id = (await leader.Leases.GrantAsync(0, 600, CancellationToken.None)).Value!.LeaseId;
        await EventuallyAsync(
            () => c.Running.All(m => m.StateMachine.Leases.TryGetValue(id, out var l) && l.RemainingTtlSeconds is > 0 and <= 600),
            "a periodic checkpoint of the lease on every member");
    }

    [Fact]
    public async Task A_new_leader_resumes_a_lease_from_its_checkpoint_not_from_the_full_ttl()
    {
        // The default checkpoint interval (5 min) keeps periodic checkpoints out of the way.
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();

        // A lease whose last checkpoint says 100 s are left (as if 500 s had passed).
        var id = (await leader.Leases.GrantAsync(0, 600, CancellationToken.None)).Value!.LeaseId;
        var (status, _) = await leader.ProposeAsync(new LeaseCheckpointCommand([new LeaseCheckpoint(id, 100)]), CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, status);
        await EventuallyAsync(() => c.Running.All(m => m.StateMachine.Leases.TryGetValue(id, out var l) && l.RemainingTtlSeconds == 100), "the checkpoint applied everywhere");

        await c.StopMemberAsync(c.NameOf(leader));
        var next = await c.LeaderAsync();
        var ttl = await next.Leases.TimeToLiveAsync(id, false, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, ttl.Status);
        // The countdown restarts from the checkpoint plus an election-timeout grace, not from 600 s.
        Assert.InRange(ttl.Value!.RemainingTtlSeconds, 90, 101);
        Assert.Equal(600, ttl.Value.GrantedTtlSeconds);
    }
}
