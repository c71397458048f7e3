using Conclave.Api.Etcd.Protocol;
using Conclave.Api.Etcd.Protocol.V3ElectionPb;
using Conclave.Api.Etcd.Protocol.V3LockPb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.E2E.Tests;

/// <summary>Watch, v3lock and v3election streams over raw gRPC (our generated clients) against `conclave serve`.</summary>
public sealed class GrpcStreamTests(ConclaveFixture fixture) : IClassFixture<ConclaveFixture>, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly GrpcChannel _channel = GrpcChannel.ForAddress(fixture.Server.ClientUrl);

    public void Dispose() => _channel.Dispose();

    private static ByteString B(string s) => ByteString.CopyFromUtf8(s);

    [Fact]
    public async Task Watch_create_events_progress_and_cancel()
    {
        var kv = new KV.KVClient(_channel);
        using var call = new Watch.WatchClient(_channel).Watch();
        var responses = call.ResponseStream;

        await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = B("/gw/"), RangeEnd = B("/gw0"), PrevKv = true } });
        var created = await NextAsync(responses, "the created response");
        var put = await kv.PutAsync(new PutRequest { Key = B("/gw/a"), Value = B("1") });
        var events = await NextAsync(responses, "the put event");
        await call.RequestStream.WriteAsync(new WatchRequest { ProgressRequest = new WatchProgressRequest() });
        var progress = await NextAsync(responses, "the progress response");
        await call.RequestStream.WriteAsync(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = created.WatchId } });
        var canceled = await NextAsync(responses, "the canceled response");

        Assert.True(created.Created);
        Assert.Equal(put.Header.Revision, events.Header.Revision);
        Assert.Equal("/gw/a", Assert.Single(events.Events).Kv.Key.ToStringUtf8());
        Assert.Equal(-1, progress.WatchId);
        Assert.Empty(progress.Events);
        Assert.True(canceled.Canceled);
        Assert.Equal(created.WatchId, canceled.WatchId);
    }

    [Fact]
    public async Task Watch_below_the_compaction_revision_is_canceled_with_it()
    {
        var kv = new KV.KVClient(_channel);
        await kv.PutAsync(new PutRequest { Key = B("/gc/a"), Value = B("1") });
        var second = await kv.PutAsync(new PutRequest { Key = B("/gc/a"), Value = B("2") });
        await kv.CompactAsync(new CompactionRequest { Revision = second.Header.Revision });
        using var call = new Watch.WatchClient(_channel).Watch();

        await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = B("/gc/a"), StartRevision = 1 } });
        var responses = new List<WatchResponse>();
        while (!responses.Any(r => r.Canceled))
        {
            responses.Add(await NextAsync(call.ResponseStream, "a canceled response"));
        }

        Assert.Equal(second.Header.Revision, responses.Single(r => r.Canceled).CompactRevision);
    }

    [Fact]
    public async Task Second_lock_waits_for_the_first_unlock()
    {
        var leases = new Lease.LeaseClient(_channel);
        var locks = new Conclave.Api.Etcd.Protocol.V3LockPb.Lock.LockClient(_channel);
        var l1 = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = 60 });
        var l2 = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = 60 });

        var first = await locks.LockAsync(new LockRequest { Name = B("/glock"), Lease = l1.ID });
        var second = locks.LockAsync(new LockRequest { Name = B("/glock"), Lease = l2.ID }).ResponseAsync;
        // The second candidate's key exists (it is in line) while the first holds the lock.
        var inLine = await WaitForKeysAsync("/glock/", 2);
        Assert.False(second.IsCompleted);
        await locks.UnlockAsync(new UnlockRequest { Key = first.Key });
        var acquired = await second.WaitAsync(Wait);

        Assert.Equal($"/glock/{l1.ID:x}", first.Key.ToStringUtf8());
        Assert.Equal($"/glock/{l2.ID:x}", acquired.Key.ToStringUtf8());
        Assert.Equal(2, inLine);
    }

    [Fact]
    public async Task Election_campaign_leader_proclaim_observe_resign()
    {
        var leases = new Lease.LeaseClient(_channel);
        var election = new Election.ElectionClient(_channel);
        var lease = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = 60 });
        using var observe = election.Observe(new LeaderRequest { Name = B("/gel") });

        var campaign = await election.CampaignAsync(new CampaignRequest { Name = B("/gel"), Lease = lease.ID, Value = B("one") });
        var first = await NextAsync(observe.ResponseStream, "the first leader");
        await election.ProclaimAsync(new ProclaimRequest { Leader = campaign.Leader, Value = B("two") });
        var proclaimed = await NextAsync(observe.ResponseStream, "the proclaimed value");
        var leader = await election.LeaderAsync(new LeaderRequest { Name = B("/gel") });
        await election.ResignAsync(new ResignRequest { Leader = campaign.Leader });
        var none = await Assert.ThrowsAsync<RpcException>(() => election.LeaderAsync(new LeaderRequest { Name = B("/gel") }).ResponseAsync);
        var notLeader = await Assert.ThrowsAsync<RpcException>(() => election.ProclaimAsync(new ProclaimRequest { Leader = campaign.Leader, Value = B("three") }).ResponseAsync);

        Assert.Equal($"/gel/{lease.ID:x}", campaign.Leader.Key.ToStringUtf8());
        Assert.Equal("one", first.Kv.Value.ToStringUtf8());
        Assert.Equal("two", proclaimed.Kv.Value.ToStringUtf8());
        Assert.Equal("two", leader.Kv.Value.ToStringUtf8());
        Assert.Equal("election: no leader", none.Status.Detail);
        Assert.Equal("election: not leader", notLeader.Status.Detail);
    }

    /// <summary>Watches the prefix until it holds <paramref name="count"/> keys (awaits events, no polling).</summary>
    private async Task<int> WaitForKeysAsync(string prefix, int count)
    {
        var kv = new KV.KVClient(_channel);
        using var call = new Watch.WatchClient(_channel).Watch();
        await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = B(prefix), RangeEnd = B(prefix[..^1] + "0"), StartRevision = 1 } });
        while (true)
        {
            var range = await kv.RangeAsync(new RangeRequest { Key = B(prefix), RangeEnd = B(prefix[..^1] + "0"), CountOnly = true, Serializable = true });
            if (range.Count >= count)
            {
                return (int)range.Count;
            }
            await NextAsync(call.ResponseStream, $"{count} keys under {prefix}");
        }
    }

    private static async Task<T> NextAsync<T>(IAsyncStreamReader<T> stream, string what)
    {
        using var timeout = new CancellationTokenSource(Wait);
        try
        {
            Assert.True(await stream.MoveNext(timeout.Token), $"the stream ended before {what}");
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && timeout.IsCancellationRequested)
        {
            throw new TimeoutException($"no {what} within {Wait.TotalSeconds} s");
        }
        return stream.Current;
    }
}
