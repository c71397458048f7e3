using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

/// <summary>A restart takes the member's identity from its data dir and ignores the initial-cluster flags, as etcd (bootstrap.go, bootstrapClusterWithWAL).</summary>
public sealed class RestartIdentityTests
{
    [Fact]
    public async Task A_restart_with_another_token_and_peer_url_keeps_the_stored_member_and_cluster_ids()
    {
        await using var c = await TestCluster.StartAsync(1);
        var m = c.Members["m1"];
        var (memberId, clusterId) = (m.MemberId, m.ClusterId);
        await m.PutAsync("k", "v");
        await c.StopMemberAsync("m1");
        Assert.Equal(new StoredIdentity(memberId, clusterId, "test"), StoredIdentity.Read(Path.Combine(c.Root, "m1")));

        // The flags now name another token, another peer URL and say "new": all ignored.
        var changed = new Dictionary<string, IReadOnlyList<string>> { ["m1"] = ["http://10.0.0.9:2380"] };
        var options = c.Options("m1", InitialClusterState.New, changed) with { InitialClusterToken = "another-token" };
        Assert.Equal(memberId, ConclaveMember.MemberIdOf(options));
        Assert.Equal(clusterId, ConclaveMember.ClusterIdOf(options));
        await options.Transport.DisposeAsync();
        await using var back = await ConclaveMember.StartAsync(options with { Transport = c.Hub.CreateTransport(memberId) });
        Assert.Equal(memberId, back.MemberId);
        Assert.Equal(clusterId, back.ClusterId);
        Assert.True(await back.WaitForLeaderAsync(memberId, CancellationToken.None), "the restarted member leads its one-member cluster again");
        Assert.Equal("v", await back.GetAsync("k"));
        Assert.Contains(c.Log.Lines, l => l.Contains("--initial-cluster and --initial-cluster-token are ignored on a restart", StringComparison.Ordinal));

        // New members' ids still derive from the cluster's own token.
        var added = await back.Cluster.MemberAddAsync(["http://10.0.0.2:2380"], isLearner: true, CancellationToken.None);
        Assert.Equal(MemberIdentity.MemberId(["http://10.0.0.2:2380"], "test"), added.Value!.Id);
    }

    [Fact]
    public void A_damaged_identity_file_is_an_error_not_a_silent_fallback_to_the_flags()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"conclave-id-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "member"));
            File.WriteAllText(StoredIdentity.PathOf(dir), "member=zz\n");
            var e = Assert.Throws<InvalidDataException>(() => StoredIdentity.Read(dir));
            Assert.Contains("identity", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
