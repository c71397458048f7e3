using Conclave.Api.Etcd.Protocol;
using Conclave.Api.Etcd.Protocol.MvccPb;
using Conclave.Api.Etcd.Protocol.V3ElectionPb;
using Conclave.Testing.Etcd;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Api.Etcd.Tests;

/// <summary>
/// Clients generated from our .proto files talk to a real etcd over h2c. Responses decode into
/// the fields we expect, which shows the protos are wire-compatible with etcd's; etcd's
/// errors arrive with the code and text in <see cref="EtcdErrors"/>.
/// </summary>
public sealed class GeneratedClientWireTests(RealEtcdFixture fixture) : IClassFixture<RealEtcdFixture>, IDisposable
{
    private static readonly TimeSpan StreamTimeout = TimeSpan.FromSeconds(30);

    private readonly RealEtcd _etcd = fixture.Etcd;
    private readonly GrpcChannel _channel = GrpcChannel.ForAddress(fixture.Etcd.ClientUrl);

    public void Dispose() => _channel.Dispose();

    [EtcdFact]
    public async Task Put_then_Range_returns_the_key_value_and_revisions()
    {
        var kv = new KV.KVClient(_channel);

        var put = await kv.PutAsync(new PutRequest { Key = Bytes("/wire/put/a"), Value = Bytes("v1") });
        var second = await kv.PutAsync(new PutRequest { Key = Bytes("/wire/put/a"), Value = Bytes("v2"), PrevKv = true });
        var range = await kv.RangeAsync(new RangeRequest { Key = Bytes("/wire/put/"), RangeEnd = Bytes("/wire/put0") });

        Assert.Equal(_etcd.ClusterId, put.Header.ClusterId);
        Assert.Equal(_etcd.MemberId, put.Header.MemberId);
        Assert.True(put.Header.RaftTerm > 0);
        Assert.Equal(put.Header.Revision + 1, second.Header.Revision);
        Assert.Equal("v1", second.PrevKv.Value.ToStringUtf8());
        var only = Assert.Single(range.Kvs);
        Assert.Equal(
            ("/wire/put/a", "v2", put.Header.Revision, second.Header.Revision, 2L, 0L),
            (only.Key.ToStringUtf8(), only.Value.ToStringUtf8(), only.CreateRevision, only.ModRevision, only.Version, only.Lease));
        Assert.Equal(1, range.Count);
        Assert.False(range.More);
        Assert.Equal(second.Header.Revision, range.Header.Revision);
    }

    [EtcdFact]
    public async Task Txn_compare_on_create_revision_picks_the_branch()
    {
        var kv = new KV.KVClient(_channel);
        var txn = new TxnRequest
        {
            Compare = { new Compare { Key = Bytes("/wire/txn/k"), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = Bytes("/wire/txn/k"), Value = Bytes("created") } } },
            Failure = { new RequestOp { RequestRange = new RangeRequest { Key = Bytes("/wire/txn/k") } } },
        };

        var first = await kv.TxnAsync(txn);
        var second = await kv.TxnAsync(txn);

        Assert.True(first.Succeeded);
        Assert.Equal(ResponseOp.ResponseOneofCase.ResponsePut, Assert.Single(first.Responses).ResponseCase);
        Assert.False(second.Succeeded);
        var read = Assert.Single(second.Responses).ResponseRange;
        Assert.Equal("created", Assert.Single(read.Kvs).Value.ToStringUtf8());
        Assert.Equal(first.Header.Revision, read.Kvs[0].CreateRevision);
    }

    [EtcdFact]
    public async Task LeaseGrant_and_TimeToLive()
    {
        var lease = new Lease.LeaseClient(_channel);

        var grant = await lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = 60 });
        var ttl = await lease.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = grant.ID });
        var unknown = await lease.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = grant.ID + 1_000_000 });

        Assert.NotEqual(0, grant.ID);
        Assert.Equal(60, grant.TTL);
        Assert.Equal("", grant.Error);
        Assert.Equal((grant.ID, 60L), (ttl.ID, ttl.GrantedTTL));
        Assert.InRange(ttl.TTL, 1, 60);
        Assert.Equal(-1, unknown.TTL);
    }

    [EtcdFact]
    public async Task LeaseGrant_raises_a_short_ttl_to_the_minimum()
    {
        var lease = new Lease.LeaseClient(_channel);

        var grant = await lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = 1 });

        // etcd's minimum TTL is ceil(1.5 x election timeout); 2 s with the default 1000 ms.
        Assert.Equal(2, grant.TTL);
    }

    [EtcdFact]
    public async Task RangeStream_is_unimplemented_before_etcd_3_7()
    {
        var kv = new KV.KVClient(_channel);
        using var call = kv.RangeStream(new RangeRequest { Key = Bytes("/wire/stream/a") });

        var exception = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(StatusCode.Unimplemented, exception.StatusCode);
    }

    [EtcdFact]
    public async Task Status_names_this_member_leader()
    {
        var maintenance = new Maintenance.MaintenanceClient(_channel);

        var status = await maintenance.StatusAsync(new StatusRequest());

        Assert.Equal(_etcd.MemberId, status.Header.MemberId);
        Assert.Equal(status.Header.MemberId, status.Leader);
        Assert.StartsWith("3.", status.Version, StringComparison.Ordinal);
        Assert.True(status.DbSize > 0);
        Assert.Equal(status.RaftTerm, status.Header.RaftTerm);
        Assert.True(status.RaftIndex > 0);
    }

    [EtcdFact]
    public async Task MemberList_returns_this_member_with_its_client_url()
    {
        var cluster = new Cluster.ClusterClient(_channel);

        var list = await cluster.MemberListAsync(new MemberListRequest());

        var member = Assert.Single(list.Members);
        Assert.Equal((_etcd.MemberId, "default", false), (member.ID, member.Name, member.IsLearner));
        Assert.Equal([$"http://127.0.0.1:{_etcd.ClientPort}"], member.ClientURLs);
        Assert.Equal([$"http://127.0.0.1:{_etcd.PeerPort}"], member.PeerURLs);
    }

    [EtcdFact]
    public async Task Watch_reports_created_then_put_and_delete_events()
    {
        var kv = new KV.KVClient(_channel);
        var watch = new Watch.WatchClient(_channel);
        using var timeout = new CancellationTokenSource(StreamTimeout);
        using var call = watch.Watch(cancellationToken: timeout.Token);

        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = Bytes("/wire/watch/"), RangeEnd = Bytes("/wire/watch0"), PrevKv = true },
        });
        var created = await NextAsync(call.ResponseStream, "the watch-created response", timeout.Token);
        var put = await kv.PutAsync(new PutRequest { Key = Bytes("/wire/watch/k"), Value = Bytes("v") });
        var delete = await kv.DeleteRangeAsync(new DeleteRangeRequest { Key = Bytes("/wire/watch/k") });
        var putEvent = await NextAsync(call.ResponseStream, "the PUT event", timeout.Token);
        var deleteEvent = await NextAsync(call.ResponseStream, "the DELETE event", timeout.Token);
        await call.RequestStream.WriteAsync(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = created.WatchId } });
        var canceled = await NextAsync(call.ResponseStream, "the watch-canceled response", timeout.Token);

        Assert.True(created.Created);
        Assert.Equal(0, created.WatchId); // ids are allocated from 0 per stream
        Assert.Empty(created.Events);
        var p = Assert.Single(putEvent.Events);
        Assert.Equal((Event.Types.EventType.Put, "/wire/watch/k", "v", put.Header.Revision), (p.Type, p.Kv.Key.ToStringUtf8(), p.Kv.Value.ToStringUtf8(), p.Kv.ModRevision));
        var d = Assert.Single(deleteEvent.Events);
        Assert.Equal((Event.Types.EventType.Delete, "/wire/watch/k", delete.Header.Revision, "v"), (d.Type, d.Kv.Key.ToStringUtf8(), d.Kv.ModRevision, d.PrevKv.Value.ToStringUtf8()));
        Assert.Equal(1, delete.Deleted);
        Assert.Equal((created.WatchId, true), (canceled.WatchId, canceled.Canceled));
    }

    public static TheoryData<string> ServerErrors =>
    [
        nameof(EtcdErrors.LeaseNotFound), nameof(EtcdErrors.EmptyKey), nameof(EtcdErrors.KeyNotFound),
        nameof(EtcdErrors.ValueProvided), nameof(EtcdErrors.FutureRevision), nameof(EtcdErrors.Compacted),
        nameof(EtcdErrors.DuplicateKey), nameof(EtcdErrors.TooManyOps), nameof(EtcdErrors.LeaseExists),
        nameof(EtcdErrors.LeaseTtlTooLarge), nameof(EtcdErrors.AuthNotEnabled), nameof(EtcdErrors.ElectionNoLeader),
    ];

    /// <summary>Triggers each error on the real etcd and checks code and text against our table.</summary>
    [EtcdTheory]
    [MemberData(nameof(ServerErrors))]
    public async Task Real_etcd_sends_the_error_in_our_table(string name)
    {
        var expected = (EtcdError)typeof(EtcdErrors).GetField(name)!.GetValue(null)!;
        var kv = new KV.KVClient(_channel);
        var lease = new Lease.LeaseClient(_channel);
        var key = Bytes($"/wire/errors/{name}");

        Task action = name switch
        {
            nameof(EtcdErrors.LeaseNotFound) => kv.PutAsync(new PutRequest { Key = key, Value = Bytes("v"), Lease = 0x7fff_0000_0000_1234 }).ResponseAsync,
            nameof(EtcdErrors.EmptyKey) => kv.PutAsync(new PutRequest { Value = Bytes("v") }).ResponseAsync,
            nameof(EtcdErrors.KeyNotFound) => kv.PutAsync(new PutRequest { Key = key, IgnoreValue = true }).ResponseAsync,
            nameof(EtcdErrors.ValueProvided) => kv.PutAsync(new PutRequest { Key = key, Value = Bytes("v"), IgnoreValue = true }).ResponseAsync,
            nameof(EtcdErrors.FutureRevision) => kv.RangeAsync(new RangeRequest { Key = key, Revision = 1_000_000_000 }).ResponseAsync,
            nameof(EtcdErrors.Compacted) => CompactThenReadOldAsync(kv, key),
            nameof(EtcdErrors.DuplicateKey) => kv.TxnAsync(new TxnRequest
            {
                Success =
                {
                    new RequestOp { RequestPut = new PutRequest { Key = key, Value = Bytes("1") } },
                    new RequestOp { RequestPut = new PutRequest { Key = key, Value = Bytes("2") } },
                },
            }).ResponseAsync,
            nameof(EtcdErrors.TooManyOps) => kv.TxnAsync(new TxnRequest
            {
                // etcd's default --max-txn-ops is 128.
                Success = { Enumerable.Range(0, 129).Select(i => new RequestOp { RequestRange = new RangeRequest { Key = Bytes($"/wire/errors/many/{i}") } }) },
            }).ResponseAsync,
            nameof(EtcdErrors.LeaseExists) => GrantTwiceAsync(lease),
            nameof(EtcdErrors.LeaseTtlTooLarge) => lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = 9_000_000_001 }).ResponseAsync,
            nameof(EtcdErrors.AuthNotEnabled) => new Protocol.Auth.AuthClient(_channel)
                .AuthenticateAsync(new AuthenticateRequest { Name = "root", Password = "x" }).ResponseAsync,
            nameof(EtcdErrors.ElectionNoLeader) => new Election.ElectionClient(_channel)
                .LeaderAsync(new LeaderRequest { Name = key }).ResponseAsync,
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no trigger for this error"),
        };
        var exception = await Assert.ThrowsAsync<RpcException>(() => action);

        Assert.Equal((expected.Code, expected.Message), (exception.StatusCode, exception.Status.Detail));
    }

    private static async Task CompactThenReadOldAsync(KV.KVClient kv, ByteString key)
    {
        var first = await kv.PutAsync(new PutRequest { Key = key, Value = Bytes("1") });
        var second = await kv.PutAsync(new PutRequest { Key = key, Value = Bytes("2") });
        await kv.CompactAsync(new CompactionRequest { Revision = second.Header.Revision });
        await kv.RangeAsync(new RangeRequest { Key = key, Revision = first.Header.Revision });
    }

    private static async Task GrantTwiceAsync(Lease.LeaseClient lease)
    {
        var granted = await lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = 60 });
        await lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = 60, ID = granted.ID });
    }

    private static async Task<WatchResponse> NextAsync(
        IAsyncStreamReader<WatchResponse> stream, string expected, CancellationToken cancellationToken)
    {
        try
        {
            if (!await stream.MoveNext(cancellationToken))
            {
                throw new InvalidOperationException($"watch stream ended while waiting for {expected}");
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no {expected} within {StreamTimeout.TotalSeconds} s", e);
        }
        return stream.Current;
    }

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);
}
