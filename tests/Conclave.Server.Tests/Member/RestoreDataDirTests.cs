using System.Security.Cryptography;
using Conclave.Server.Api;
using Conclave.Storage.Mvcc;
using Conclave.Testing.Etcd;
using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

/// <summary>
/// <see cref="RestoreDataDir"/>: a snapshot file of one cluster becomes the data dirs of a new
/// three-member cluster that starts over real TCP with the history, revision, compaction revision
/// and leases of the old one and only the new membership; damaged files and used data dirs are
/// refused with nothing written.
/// </summary>
public sealed class RestoreDataDirTests : IDisposable
{
    private const string Token = "restored-cluster";

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"conclave-restore-{Guid.NewGuid():N}");

    public RestoreDataDirTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Three_members_restored_from_one_file_start_over_tcp_with_the_old_history_and_only_the_new_membership()
    {
        var (file, old) = await SnapshotOfAnOldClusterAsync();

        var ports = FreePort.Take(3);
        var initial = Enumerable.Range(0, 3).ToDictionary(i => $"n{i + 1}", i => (IReadOnlyList<string>)[$"http://127.0.0.1:{ports[i]}"]);
        var results = new List<RestoreResult>();
        foreach (var name in initial.Keys)
        {
            var r = await RestoreDataDir.RestoreAsync(file, Options(name, initial));
            Assert.True(r.IsOk, $"restore {name}: {r.Status} {r.Error}");
            results.Add(r);
        }

        // Every member wrote the same raft snapshot: same index, term, voters, image.
        Assert.Single(results.Select(r => (r.SnapshotIndex, r.SnapshotTerm, r.ClusterId)).Distinct());
        Assert.Equal(MemberIdentity.ClusterId(Token), results[0].ClusterId);
        Assert.Equal(initial.Keys.Select(n => MemberIdentity.MemberId(initial[n], Token)), results.Select(r => r.MemberId));
        Assert.True(results[0].SnapshotIndex > old.AppliedIndex, "the membership change is recorded after the file's applied index");
        var snaps = initial.Keys.Select(n => File.ReadAllBytes(Directory.GetFiles(Path.Combine(_root, n, "member", "snap")).Single())).ToList();
        Assert.All(snaps, s => Assert.Equal(snaps[0], s));
        Assert.Equal((old.Revision, old.CompactRevision, 1), (results[0].Revision, results[0].CompactRevision, results[0].Leases));
        Assert.Equal(1, results[0].ReplacedMembers);

        await using var cluster = await TcpCluster.StartAsync(
            _root, initial, Token, o => o with { HeartbeatIntervalMs = 50, ElectionTimeoutMs = 1000, ClientUrls = [$"http://client-{o.Name}:2379"] });
        var leader = await cluster.LeaderAsync();
        foreach (var m in cluster.Members)
        {
            Assert.Equal(results[0].ClusterId, m.ClusterId);
            Assert.Equal(old.Revision, m.StateMachine.Store.CurrentRevision);
            Assert.Equal(old.CompactRevision, m.StateMachine.Store.CompactRevision);
            Assert.Equal(old.Kvs, Describe(m.StateMachine.Store.Range(new RangeRequest { Key = B("\0"), RangeEnd = B("\0") }).Kvs));
            Assert.Equal(old.Hash, m.StateMachine.Store.HashKV(0).Hash);
            Assert.Equal(old.History, Describe(m.StateMachine.Store.Range(new RangeRequest { Key = B("k1"), Revision = old.CompactRevision }).Kvs));
            Assert.Contains(old.LeaseId, m.StateMachine.Leases.Keys);
        }

        // The old member is gone; the new ones are the voters, with their names and peer URLs (client URLs once published).
        var list = await leader.Cluster.MemberListAsync(linearizable: true, CancellationToken.None);
        Assert.True(list.IsOk, list.Status.ToString());
        Assert.Equal(
            initial.OrderBy(kv => MemberIdentity.MemberId(kv.Value, Token)).Select(kv => (MemberIdentity.MemberId(kv.Value, Token), kv.Key, kv.Value[0], false)),
            list.Value!.Select(m => (m.Id, m.Name, m.PeerUrls.Single(), m.IsLearner)));
        Assert.DoesNotContain(list.Value!, m => m.Id == old.MemberId);

        // New writes go on from the old revision, through a follower, and reach every member.
        var follower = cluster.Members.First(m => m != leader);
        var revision = await follower.PutAsync("after-restore", "yes");
        Assert.Equal(old.Revision + 1, revision);
        var index = follower.AppliedIndex;
        await cluster.AppliedAsync(index);
        foreach (var m in cluster.Members)
        {
            Assert.Equal("yes", await m.GetAsync("after-restore", serializable: true));
        }
        // The lease still holds its key: revoking it deletes the key on the new cluster.
        var revoked = await leader.Leases.RevokeAsync(old.LeaseId, CancellationToken.None);
        Assert.True(revoked.IsOk, revoked.Status.ToString());
        Assert.Equal(1, revoked.Value!.DeletedKeys);
    }

    [Fact]
    public async Task A_damaged_file_is_refused_and_nothing_is_written()
    {
        var (file, _) = await SnapshotOfAnOldClusterAsync();
        var initial = new Dictionary<string, IReadOnlyList<string>> { ["n1"] = ["http://127.0.0.1:1"] };

        var damaged = (byte[])file.Clone();
        damaged[damaged.Length / 3] ^= 0x40;
        var r = await RestoreDataDir.RestoreAsync(damaged, Options("n1", initial));
        Assert.Equal(RestoreStatus.HashMismatch, r.Status);
        Assert.Equal("the snapshot is damaged: its SHA-256 checksum does not match", r.Error);

        // Skipping the hash check does not skip the image's own checksums.
        r = await RestoreDataDir.RestoreAsync(damaged, Options("n1", initial) with { SkipHashCheck = true });
        Assert.Equal(RestoreStatus.NotASnapshot, r.Status);

        r = await RestoreDataDir.RestoreAsync(new byte[100], Options("n1", initial));
        Assert.Equal(RestoreStatus.HashMismatch, r.Status);
        r = await RestoreDataDir.RestoreAsync(new byte[10], Options("n1", initial) with { SkipHashCheck = true });
        Assert.Equal(RestoreStatus.NotASnapshot, r.Status);

        Assert.Empty(Directory.GetFileSystemEntries(_root));

        // The same file without its trailer restores with --skip-hash-check only.
        var bare = file[..^32];
        Assert.Equal(RestoreStatus.HashMismatch, (await RestoreDataDir.RestoreAsync(bare, Options("n1", initial))).Status);
        r = await RestoreDataDir.RestoreAsync(bare, Options("n1", initial) with { SkipHashCheck = true });
        Assert.True(r.IsOk, r.Error);
    }

    [Fact]
    public async Task A_used_data_dir_is_refused_and_left_alone_an_empty_one_is_used()
    {
        var (file, _) = await SnapshotOfAnOldClusterAsync();
        var initial = new Dictionary<string, IReadOnlyList<string>> { ["n1"] = ["http://127.0.0.1:1"], ["n2"] = ["http://127.0.0.1:2"] };
        var used = Path.Combine(_root, "n1");
        Directory.CreateDirectory(used);
        File.WriteAllText(Path.Combine(used, "keep"), "mine");

        var r = await RestoreDataDir.RestoreAsync(file, Options("n1", initial));
        Assert.Equal(RestoreStatus.DataDirNotEmpty, r.Status);
        Assert.Contains(used, r.Error, StringComparison.Ordinal);
        Assert.Equal([Path.Combine(used, "keep")], Directory.GetFileSystemEntries(used));
        Assert.Equal([used], Directory.GetFileSystemEntries(_root));

        Directory.CreateDirectory(Path.Combine(_root, "n2"));
        r = await RestoreDataDir.RestoreAsync(file, Options("n2", initial));
        Assert.True(r.IsOk, r.Error);
        Assert.Equal(new StoredIdentity(r.MemberId, r.ClusterId, Token), StoredIdentity.Read(Path.Combine(_root, "n2")));
        Assert.Equal([Path.Combine(_root, "n1"), Path.Combine(_root, "n2")], Directory.GetFileSystemEntries(_root).Order());

        // A name outside the new cluster, or two members on one URL, is not a cluster.
        r = await RestoreDataDir.RestoreAsync(file, Options("n3", initial) with { DataDir = Path.Combine(_root, "n3") });
        Assert.Equal(RestoreStatus.BadCluster, r.Status);
        var shared = new Dictionary<string, IReadOnlyList<string>> { ["n1"] = ["http://127.0.0.1:1"], ["n3"] = ["http://127.0.0.1:1"] };
        r = await RestoreDataDir.RestoreAsync(file, Options("n3", shared));
        Assert.Equal(RestoreStatus.BadCluster, r.Status);
        Assert.False(Directory.Exists(Path.Combine(_root, "n3")));
    }

    private RestoreOptions Options(string name, IReadOnlyDictionary<string, IReadOnlyList<string>> initial) => new()
    {
        DataDir = Path.Combine(_root, name),
        Name = name,
        InitialCluster = initial,
        InitialClusterToken = Token,
        WalSegmentBytes = 1 << 20,
    };

    /// <summary>What the old cluster held when its snapshot was taken.</summary>
    private sealed record OldState(ulong MemberId, ulong AppliedIndex, long Revision, long CompactRevision, uint Hash, IReadOnlyList<string> Kvs, IReadOnlyList<string> History, long LeaseId);

    /// <summary>
    /// A one-member cluster with history (overwrites, a delete, a compaction, a key under a lease),
    /// and its Maintenance.Snapshot image in the file layout `snapshot save` writes (padded to 512
    /// bytes, then the SHA-256 of the padded image).
    /// </summary>
    private static async Task<(byte[] File, OldState Old)> SnapshotOfAnOldClusterAsync()
    {
        await using var c = await TestCluster.StartAsync(1);
        var m = c.Members["m1"];
        for (var i = 0; i < 5; i++)
        {
            await m.PutAsync($"k{i}", $"v{i}");
        }
        var compactAt = await m.PutAsync("k1", "v1-second");
        await m.PutAsync("k1", "v1-third");
        var deleted = await m.KeyValue.DeleteRangeAsync(new DeleteRangeRequest { Key = B("k2") }, CancellationToken.None);
        Assert.True(deleted.IsOk);
        var compacted = await m.KeyValue.CompactAsync(compactAt, physical: true, CancellationToken.None);
        Assert.True(compacted.IsOk, compacted.Status.ToString());
        var grant = await m.Leases.GrantAsync(0, 3600, CancellationToken.None);
        Assert.True(grant.IsOk, grant.Status.ToString());
        var leaseId = grant.Value!.LeaseId;
        await m.PutAsync("leased", "v", leaseId);

        using var image = new MemoryStream();
        await foreach (var chunk in m.Maintenance.SnapshotAsync(CancellationToken.None))
        {
            image.Write(chunk.Span);
        }
        image.SetLength((image.Length + 511) / 512 * 512);
        image.Position = image.Length;
        image.Write(SHA256.HashData(image.GetBuffer().AsSpan(0, (int)image.Length)));

        var store = m.StateMachine.Store;
        var old = new OldState(
            m.MemberId,
            m.AppliedIndex,
            store.CurrentRevision,
            store.CompactRevision,
            store.HashKV(0).Hash,
            Describe(store.Range(new RangeRequest { Key = B("\0"), RangeEnd = B("\0") }).Kvs),
            Describe(store.Range(new RangeRequest { Key = B("k1"), Revision = compactAt }).Kvs),
            leaseId);
        Assert.Equal(compactAt, old.CompactRevision);
        Assert.Equal(5, old.Kvs.Count);
        return (image.ToArray(), old);
    }

    private static List<string> Describe(IEnumerable<KeyValue> kvs) =>
        kvs.Select(kv => $"{S(kv.Key)}={S(kv.Value)} c{kv.CreateRevision} m{kv.ModRevision} v{kv.Version} l{kv.Lease}").ToList();
}
