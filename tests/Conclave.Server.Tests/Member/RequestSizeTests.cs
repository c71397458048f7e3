using System.Net;
using Conclave.Server.Api;
using Conclave.Server.Transport;
using Conclave.Storage.Mvcc;
using Conclave.Testing.Etcd;
using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

/// <summary>
/// --max-request-bytes end to end through real TCP peer connections: a request at the limit must
/// replicate (the peer frame limit, the raft message size and the WAL record all follow the limit),
/// one above it is refused before it reaches the log.
/// </summary>
public sealed class RequestSizeTests : IDisposable
{
    private const int MiB = 1024 * 1024;

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"conclave-tcp-{Guid.NewGuid():N}");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task With_max_request_bytes_16_MiB_a_15_MiB_value_replicates_to_every_member_over_tcp()
    {
        var ports = FreePort.Take(3);
        var initial = Enumerable.Range(0, 3).ToDictionary(i => $"m{i + 1}", i => (IReadOnlyList<string>)[$"http://127.0.0.1:{ports[i]}"]);
        // A leader busy writing 15 MiB sends no heartbeat meanwhile: on a loaded test machine that
        // must not look like a dead leader.
        await using var cluster = await TcpCluster.StartAsync(
            _root, initial, "test", o => o with { HeartbeatIntervalMs = 100, ElectionTimeoutMs = 5000, MaxRequestBytes = 16 * MiB });
        var leader = await cluster.LeaderAsync();
        var follower = cluster.Members.First(m => m != leader);
        var value = new byte[15 * MiB];
        new Random(7).NextBytes(value);

        // Through a follower: the proposal travels to the leader in one raft message, then to every
        // member. On a loaded machine writing 15 MiB may delay heartbeats past an election timeout:
        // the put is idempotent, so an outcome-unknown answer is retried.
        var put = await follower.KeyValue.PutAsync(new PutRequest { Key = B("big"), Value = value }, CancellationToken.None);
        for (var attempt = 0; attempt < 3 && put.Status is ServerStatus.LeaderChanged or ServerStatus.NoLeader or ServerStatus.Timeout; attempt++)
        {
            await follower.WaitForLeaderAsync(0, CancellationToken.None);
            put = await follower.KeyValue.PutAsync(new PutRequest { Key = B("big"), Value = value }, CancellationToken.None);
        }
        Assert.True(put.IsOk, $"15 MiB put through a follower: {put.Status}\n{cluster.Log}");
        var index = follower.AppliedIndex;
        await cluster.AppliedAsync(index);
        foreach (var m in cluster.Members)
        {
            var r = await m.KeyValue.RangeAsync(RangeRequest.Single(B("big")), serializable: true, CancellationToken.None);
            Assert.True(r.IsOk);
            Assert.True(value.AsSpan().SequenceEqual(r.Value!.Kvs.Single().Value.Span), $"{m.Name} holds the 15 MiB value");
        }

        // Above the limit: etcd's "request is too large", and nothing reaches the log on any member.
        var applied = cluster.Members.Select(m => m.AppliedIndex).ToList();
        var tooBig = await leader.KeyValue.PutAsync(new PutRequest { Key = B("bigger"), Value = new byte[(16 * MiB) + 1] }, CancellationToken.None);
        Assert.Equal(ServerStatus.RequestTooLarge, tooBig.Status);
        Assert.Equal(applied, cluster.Members.Select(m => m.AppliedIndex).ToList());
        Assert.Null(await leader.GetAsync("bigger"));
    }

    [Fact]
    public async Task The_default_limit_of_1_5_MiB_accepts_1_4_MiB_and_refuses_2_MiB()
    {
        await using var c = await TestCluster.StartAsync(1);
        var m = c.Members["m1"];
        Assert.Equal(1536 * 1024, m.Options.MaxRequestBytes);
        var ok = await m.KeyValue.PutAsync(new PutRequest { Key = B("a"), Value = new byte[1400 * 1024] }, CancellationToken.None);
        Assert.True(ok.IsOk, ok.Status.ToString());
        var applied = m.AppliedIndex;
        var r = await m.KeyValue.PutAsync(new PutRequest { Key = B("b"), Value = new byte[2 * MiB] }, CancellationToken.None);
        Assert.Equal(ServerStatus.RequestTooLarge, r.Status);
        Assert.Equal(applied, m.AppliedIndex);
    }

    [Theory]
    [InlineData(1536 * 1024, 8 * MiB)]
    [InlineData(16 * MiB, (16 * MiB) + (64 * 1024))]
    [InlineData(int.MaxValue, int.MaxValue)]
    public void The_peer_frame_limit_follows_max_request_bytes(int maxRequestBytes, int frameBytes) =>
        Assert.Equal(frameBytes, ConclaveMemberOptions.PeerMaxFrameBytesFor(maxRequestBytes));

    [Fact]
    public async Task A_member_refuses_to_start_on_a_transport_whose_frames_cannot_carry_its_largest_request()
    {
        var root = Path.Combine(Path.GetTempPath(), $"conclave-size-{Guid.NewGuid():N}");
        var port = FreePort.Take(1)[0];
        var urls = new[] { $"http://127.0.0.1:{port}" };
        var id = MemberIdentity.MemberId(urls, "test");
        await using var transport = new TcpPeerTransport(new TcpPeerTransportOptions { ClusterId = MemberIdentity.ClusterId("test"), LocalId = id, ListenEndPoint = new IPEndPoint(IPAddress.Loopback, port) }, TimeProvider.System);
        var options = new ConclaveMemberOptions
        {
            Name = "m1",
            DataDir = root,
            InitialCluster = new Dictionary<string, IReadOnlyList<string>> { ["m1"] = urls },
            InitialClusterToken = "test",
            MaxRequestBytes = 16 * MiB,
            Transport = transport,
        };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => ConclaveMember.StartAsync(options));
        Assert.Contains("--max-request-bytes 16777216", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(root), "nothing is written before the settings are checked");
    }
}
