using Conclave.Server.Api;
using Conclave.Storage.Mvcc;
using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

/// <summary>A member that applies its own removal stops serving (etcd: server.go, stopWithDelay after apply).</summary>
public sealed class RemovalTests
{
    [Fact]
    public async Task A_removed_member_answers_every_pending_and_new_request_with_Removed_and_stops()
    {
        await using var c = await TestCluster.StartAsync(3);
        var leader = await c.LeaderAsync();
        var removed = c.Follower(leader);
        var stays = c.Running.First(m => m != leader && m != removed);

        // Writers and linearizable readers keep requests in flight on the member while it is removed:
        // each loops until it gets a refusal, which must be Removed (never a timeout: nothing may hang).
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; ; i++)
            {
                var r = await removed.KeyValue.PutAsync(new PutRequest { Key = B($"w{w}"), Value = B($"{i}") }, CancellationToken.None);
                if (!r.IsOk)
                {
                    return r.Status;
                }
            }
        })).ToList();
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var r = await removed.KeyValue.RangeAsync(RangeRequest.Single(B("w0")), serializable: false, CancellationToken.None);
                if (!r.IsOk)
                {
                    return r.Status;
                }
            }
        })).ToList();
        await EventuallyAsync(() => removed.StateMachine.Store.CurrentRevision > 20, "some writes through the member before its removal");

        var r = await leader.Cluster.MemberRemoveAsync(removed.MemberId, CancellationToken.None);
        Assert.Equal(ServerStatus.Ok, r.Status);

        var outcomes = await Task.WhenAll(writers.Concat(readers)).WaitAsync(TestCluster.Deadline);
        Assert.All(outcomes, s => Assert.Equal(ServerStatus.Removed, s));
        Assert.True(removed.IsRemoved);
        await removed.Completion.WaitAsync(TestCluster.Deadline);
        Assert.True(removed.Completion.IsCompletedSuccessfully);

        // New requests, writes and reads of every kind, are refused at once.
        Assert.Equal(ServerStatus.Removed, (await removed.KeyValue.PutAsync(new PutRequest { Key = B("x"), Value = B("y") }, CancellationToken.None)).Status);
        Assert.Equal(ServerStatus.Removed, (await removed.KeyValue.RangeAsync(RangeRequest.Single(B("x")), serializable: true, CancellationToken.None)).Status);
        Assert.Equal(ServerStatus.Removed, (await removed.KeyValue.RangeAsync(RangeRequest.Single(B("x")), serializable: false, CancellationToken.None)).Status);
        Assert.Equal(ServerStatus.Removed, (await removed.Leases.GrantAsync(0, 10, CancellationToken.None)).Status);
        Assert.Equal(ServerStatus.Removed, (await removed.Cluster.MemberListAsync(linearizable: true, CancellationToken.None)).Status);
        Assert.Contains(c.Log.Lines, l => l.Contains("has been permanently removed from the cluster", StringComparison.Ordinal));

        // The others carry on without it.
        await leader.PutAsync("after", "ok");
        Assert.Equal("ok", await stays.GetAsync("after"));
        Assert.Equal(2, (await stays.Cluster.MemberListAsync(linearizable: true, CancellationToken.None)).Value!.Count);
    }
}
