using Conclave.Raft;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;
using Conclave.Storage.Snapshots;
using Conclave.Storage.Wal;

namespace Conclave.Server;

/// <summary>What <see cref="RestoreDataDir.RestoreAsync"/> writes: one member of a new cluster (etcdutl snapshot restore's flags).</summary>
public sealed record RestoreOptions
{
    /// <summary>The data dir to create; it must not exist, or be an empty directory.</summary>
    public required string DataDir { get; init; }

    /// <summary>This member's name; must be a key of <see cref="InitialCluster"/>.</summary>
    public required string Name { get; init; }

    /// <summary>name → peer URLs of every member of the new cluster, exactly as `conclave serve` will be given them.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<string>> InitialCluster { get; init; }

    /// <summary>The new cluster's token; member and cluster ids derive from it (<see cref="MemberIdentity"/>).</summary>
    public string InitialClusterToken { get; init; } = "etcd-cluster";

    /// <summary>Accept a file whose trailing SHA-256 is missing or wrong (the image's own checksums still apply).</summary>
    public bool SkipHashCheck { get; init; }

    /// <summary>Bytes preallocated for the first WAL segment (the member's <see cref="ConclaveMemberOptions.WalSegmentBytes"/>).</summary>
    public long WalSegmentBytes { get; init; } = 64L * 1024 * 1024;
}

/// <summary>Why a restore wrote nothing (or <see cref="Ok"/>).</summary>
public enum RestoreStatus
{
    Ok,

    /// <summary>The file's SHA-256 does not match (see <see cref="RestoreOptions.SkipHashCheck"/>).</summary>
    HashMismatch,

    /// <summary>The file is not a Conclave snapshot.</summary>
    NotASnapshot,

    /// <summary>The data dir exists and is not an empty directory (etcd refuses it too).</summary>
    DataDirNotEmpty,

    /// <summary>The options do not describe a cluster: the name is not in it, a member has no URL, or two members share their peer URLs.</summary>
    BadCluster,
}

/// <summary>
/// The outcome of a restore. On <see cref="RestoreStatus.Ok"/>: the new member's and cluster's ids,
/// the raft snapshot written (index, term, voters) and what the restored state holds; otherwise
/// <see cref="Error"/> says why nothing was written.
/// </summary>
public sealed record RestoreResult
{
    public required RestoreStatus Status { get; init; }

    public string? Error { get; init; }

    public bool IsOk => Status == RestoreStatus.Ok;

    public ulong MemberId { get; init; }

    public ulong ClusterId { get; init; }

    /// <summary>Index of the raft snapshot (and of the WAL's snapshot marker and commit): the same on every member restored from one file with one initial cluster.</summary>
    public ulong SnapshotIndex { get; init; }

    public ulong SnapshotTerm { get; init; }

    public long Revision { get; init; }

    public long CompactRevision { get; init; }

    public long Keys { get; init; }

    public int Leases { get; init; }

    /// <summary>The new membership, ordered by id (all voters).</summary>
    public IReadOnlyList<Member> Members { get; init; } = [];

    /// <summary>The members the file's state held, now replaced.</summary>
    public int ReplacedMembers { get; init; }

    /// <summary>The file's SHA-256 (lower-case hex), empty when the hash check was skipped and the file had none.</summary>
    public string Sha256 { get; init; } = string.Empty;
}

/// <summary>
/// `conclave snapshot restore` without the command line (etcdutl snapshot restore): turns a snapshot
/// file into the data dir of one member of a NEW cluster, which `conclave serve` then starts as
/// "restarted from its data dir" (its flags are ignored from then on, as for any restart).
/// <para>What the data dir holds: the file's key-value history, revision, compaction revision,
/// leases and alarms; the file's membership replaced by <see cref="RestoreOptions.InitialCluster"/>
/// (ids from <see cref="MemberIdentity"/>, as `serve` computes them); <c>member/identity</c>
/// (<see cref="StoredIdentity"/>); a raft snapshot in <c>member/snap</c> whose conf state makes the
/// new members the voters; and a WAL in <c>member/wal</c> holding only that snapshot's marker and a
/// hard state committed up to it.</para>
/// <para>The membership change is recorded the way a log would: one RemoveNode per old member, then
/// one AddNode per new member (ordered by id), as entries after the file's applied index at the
/// file's applied term (at least 1). So every member restored from the same file with the same
/// initial cluster writes the same snapshot (index, term, conf state, image).</para>
/// <para>Nothing is written unless everything was checked: the data dir is assembled in a sibling
/// directory and renamed into place.</para>
/// </summary>
public static class RestoreDataDir
{
    public static async Task<RestoreResult> RestoreAsync(byte[] snapshotFile, RestoreOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(snapshotFile);
        ArgumentNullException.ThrowIfNull(options);
        if (Problem(options) is { } problem)
        {
            return new RestoreResult { Status = RestoreStatus.BadCluster, Error = problem };
        }
        var dataDir = Path.GetFullPath(options.DataDir);
        if (File.Exists(dataDir) || (Directory.Exists(dataDir) && Directory.EnumerateFileSystemEntries(dataDir).Any()))
        {
            return new RestoreResult { Status = RestoreStatus.DataDirNotEmpty, Error = $"restore: data dir {dataDir} exists and is not empty; restore needs a new one" };
        }
        var loaded = SnapshotFile.Load(snapshotFile, options.SkipHashCheck);
        if (!loaded.IsOk)
        {
            var status = loaded.Status == SnapshotFileStatus.HashMismatch ? RestoreStatus.HashMismatch : RestoreStatus.NotASnapshot;
            return new RestoreResult { Status = status, Error = loaded.Error };
        }

        var state = loaded.State!;
        var token = options.InitialClusterToken;
        var members = options.InitialCluster
            .Select(kv => new Member { Id = MemberIdentity.MemberId(kv.Value, token), Name = kv.Key, PeerUrls = kv.Value.ToList() })
            .OrderBy(m => m.Id)
            .ToList();
        var replaced = state.Members.Count;
        var term = Math.Max(1, state.AppliedTerm);
        var index = state.AppliedIndex;
        foreach (var old in state.Members.Keys.Order().ToList())
        {
            var cc = ConfChange.Single(ConfChangeType.RemoveNode, old);
            state.ApplyConfChange(new Entry(term, ++index, EntryType.ConfChange, cc.Encode()), cc);
        }
        foreach (var m in members)
        {
            var cc = ConfChange.Single(ConfChangeType.AddNode, m.Id) with { Context = m.Encode() };
            state.ApplyConfChange(new Entry(term, ++index, EntryType.ConfChange, cc.Encode()), cc);
        }
        var metadata = new SnapshotMetadata(index, term, new ConfState { Voters = members.Select(m => m.Id).ToList() });
        using var image = new MemoryStream();
        state.WriteSnapshot(image);

        var identity = new StoredIdentity(MemberIdentity.MemberId(options.InitialCluster[options.Name], token), MemberIdentity.ClusterId(token), token);
        var parent = Path.GetDirectoryName(dataDir)!;
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(dataDir)}.restoring-{Guid.NewGuid():N}");
        try
        {
            identity.Write(staging);
            var memberDir = Path.Combine(staging, "member");
            await new SnapshotStore(Path.Combine(memberDir, "snap")).SaveAsync(metadata, image.ToArray(), ct);
            var opened = WriteAheadLog.Open(Path.Combine(memberDir, "wal"), new WalOptions { SegmentSize = options.WalSegmentBytes });
            using (var wal = opened.Log)
            {
                await wal.SaveSnapshotMarkerAsync(index, term, ct);
                await wal.SaveAsync(new HardState(term, 0, index), [], ct);
            }
            if (Directory.Exists(dataDir))
            {
                // Checked empty above; Directory.Move needs the target gone.
                Directory.Delete(dataDir);
            }
            Directory.Move(staging, dataDir);
        }
        catch
        {
            try
            {
                Directory.Delete(staging, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
            throw;
        }

        var store = state.Store;
        var keys = store.Range(new RangeRequest { Key = new byte[] { 0 }, RangeEnd = new byte[] { 0 }, CountOnly = true }).Count;
        return new RestoreResult
        {
            Status = RestoreStatus.Ok,
            MemberId = identity.MemberId,
            ClusterId = identity.ClusterId,
            SnapshotIndex = index,
            SnapshotTerm = term,
            Revision = store.CurrentRevision,
            CompactRevision = store.CompactRevision,
            Keys = keys,
            Leases = state.Leases.Count,
            Members = members,
            ReplacedMembers = replaced,
            Sha256 = loaded.Sha256,
        };
    }

    private static string? Problem(RestoreOptions options)
    {
        if (options.Name.Length == 0)
        {
            return "restore: the member name must not be empty";
        }
        if (!options.InitialCluster.TryGetValue(options.Name, out _))
        {
            return $"restore: member name '{options.Name}' is not in the initial cluster ({string.Join(", ", options.InitialCluster.Keys)})";
        }
        if (options.InitialCluster.FirstOrDefault(kv => kv.Value.Count == 0) is { Key: { } empty })
        {
            return $"restore: member '{empty}' has no peer URL";
        }
        var ids = options.InitialCluster.Values.Select(urls => MemberIdentity.MemberId(urls, options.InitialClusterToken)).ToList();
        if (ids.Distinct().Count() != ids.Count)
        {
            return "restore: two members of the initial cluster have the same peer URLs";
        }
        return null;
    }
}
