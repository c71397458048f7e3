using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Conclave.Server.Watch;
using Conclave.Storage.Mvcc;
using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

public sealed class MaintenanceAndWatchTests
{
    [Fact]
    public async Task A_watch_on_a_follower_sees_writes_made_through_the_leader()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var follower = c.Follower(leader);
        using var stream = follower.Watches.OpenStream();
        var created = stream.Create(new WatchCreateRequest { Key = B("w/"), RangeEnd = KeyRange.PrefixEnd("w/"u8) });
        Assert.Equal(WatchCreateStatus.Ok, created.Status);
        var rev = await leader.PutAsync("w/1", "one");

        var events = new List<Event>();
        using var deadline = new CancellationTokenSource(TestCluster.Deadline);
        while (events.Count == 0)
        {
            var r = await stream.Responses.ReadAsync(deadline.Token);
            events.AddRange(r.Events);
        }
        var e = Assert.Single(events);
        Assert.Equal("one", S(e.Kv.Value));
        Assert.Equal(rev, e.Kv.ModRevision);
    }

    [Fact]
    public async Task A_watch_on_a_member_that_installs_a_snapshot_still_gets_every_event()
    {
        await using var c = await TestCluster.StartAsync(3, configure: o => o with { SnapshotCount = 10, SnapshotCatchUpEntries = 2 });
        var leader = await c.LeaderAsync();
        var behind = c.Follower(leader);
        using var stream = behind.Watches.OpenStream();
        Assert.Equal(WatchCreateStatus.Ok, stream.Create(new WatchCreateRequest { Key = B("s/"), RangeEnd = KeyRange.PrefixEnd("s/"u8) }).Status);

        c.Hub.Partition([behind.MemberId], c.Running.Where(m => m != behind).Select(m => m.MemberId));
        for (var i = 0; i < 40; i++)
        {
            await leader.PutAsync($"s/{i:D2}", $"{i}");
        }
        c.Hub.Heal();

        var values = new List<string>();
        using var deadline = new CancellationTokenSource(TestCluster.Deadline);
        try
        {
            while (values.Count < 40)
            {
                var r = await stream.Responses.ReadAsync(deadline.Token);
                Assert.False(r.Canceled, r.CancelReason);
                values.AddRange(r.Events.Select(e => S(e.Kv.Value)));
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"expected 40 watch events within {TestCluster.Deadline.TotalSeconds} s, got {values.Count}");
        }
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"{i}"), values);
        Assert.Contains("installed the leader's snapshot", c.Log.ToString());
    }

    [Fact]
    public async Task Status_alarms_hashkv_snapshot_and_defragment()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var follower = c.Follower(leader);
        await leader.PutAsync("s", "1");

        var status = await follower.Maintenance.StatusAsync(CancellationToken.None);
        Assert.True(status.IsOk);
        Assert.Equal(leader.MemberId, status.Value!.Leader);
        Assert.Equal(ConclaveMember.EtcdVersion, status.Value.Version);
        Assert.False(status.Value.IsLearner);
        Assert.True(status.Value.RaftAppliedIndex > 0);

        var raised = await follower.Maintenance.AlarmAsync(AlarmAction.Activate, follower.MemberId, AlarmType.NoSpace, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, raised.Status);
        Assert.Contains((follower.MemberId, AlarmType.NoSpace), raised.Value!);
        var refused = await leader.KeyValue.PutAsync(new PutRequest { Key = B("x"), Value = B("y") }, CancellationToken.None);
        Assert.Equal(ServerStatus.NoSpace, refused.Status);
        var listed = await leader.Maintenance.AlarmAsync(null, 0, AlarmType.None, CancellationToken.None);
        Assert.Single(listed.Value!);
        Assert.Contains("alarm:NOSPACE", Assert.Single((await leader.Maintenance.StatusAsync(CancellationToken.None)).Value!.Errors));
        await leader.Maintenance.AlarmAsync(AlarmAction.Deactivate, follower.MemberId, AlarmType.NoSpace, CancellationToken.None);
        await leader.PutAsync("x", "y");

        var revision = leader.StateMachine.Store.CurrentRevision;
        await EventuallyAsync(() => c.Running.All(m => m.StateMachine.Store.CurrentRevision == revision), "every member at the same revision");
        var hashes = new List<uint>();
        foreach (var m in c.Running)
        {
            var h = await m.Maintenance.HashKVAsync(revision, CancellationToken.None);
            Assert.True(h.IsOk);
            hashes.Add(h.Value!.Hash);
        }
        Assert.Single(hashes.Distinct());

        using var image = new MemoryStream();
        await foreach (var chunk in follower.Maintenance.SnapshotAsync(CancellationToken.None))
        {
            image.Write(chunk.Span);
        }
        image.Position = 0;
        var copy = new KvStateMachine(new MvccStore(), 1);
        copy.Restore(image);
        Assert.Equal(hashes[0], copy.Store.HashKV(revision).Hash);
        Assert.Equal(3, copy.Members.Count);

        Assert.True((await follower.Maintenance.DefragmentAsync(CancellationToken.None)).Value);
    }

    [Fact]
    public async Task The_corruption_check_raises_corrupt_for_a_member_whose_store_diverged()
    {
        await using var c = await TestCluster.StartAsync(3, configure: o => o with { CorruptCheckInterval = TimeSpan.FromMilliseconds(100) });
        var leader = await c.LeaderAsync();
        var follower = c.Follower(leader);
        await leader.PutAsync("a", "1");
        await EventuallyAsync(() => follower.StateMachine.Store.CurrentRevision == leader.StateMachine.Store.CurrentRevision, "the follower to catch up");

        // Damage the follower's store behind the log's back (on its loop, the store's one writer).
        await follower.InvokeAsync(() => follower.StateMachine.Store.Put(new PutRequest { Key = B("rogue"), Value = B("x") }));
        await leader.PutAsync("b", "2");
        await EventuallyAsync(() => leader.StateMachine.Alarms.Contains((follower.MemberId, AlarmType.Corrupt)), "a CORRUPT alarm for the damaged member");
        var refused = await leader.KeyValue.PutAsync(new PutRequest { Key = B("c"), Value = B("3") }, CancellationToken.None);
        Assert.Equal(ServerStatus.Corrupt, refused.Status);
    }
}
