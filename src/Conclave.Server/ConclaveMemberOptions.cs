using Conclave.Server.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Conclave.Server;

public enum InitialClusterState
{
    /// <summary>Bootstrap a new cluster from <see cref="ConclaveMemberOptions.InitialCluster"/> (ignored once the data dir holds a log).</summary>
    New,

    /// <summary>Join a running cluster that already added this member (MemberAdd): start empty and be caught up by the leader.</summary>
    Existing,
}

/// <summary>Settings of one member (etcd's flags of the same names). All times are wall-clock durations on <see cref="Time"/>.</summary>
public sealed record ConclaveMemberOptions
{
    /// <summary>This member's name; must be a key of <see cref="InitialCluster"/>.</summary>
    public required string Name { get; init; }

    /// <summary>Holds <c>member/wal</c> (the write-ahead log) and <c>member/snap</c> (state snapshots).</summary>
    public required string DataDir { get; init; }

    /// <summary>name → peer URLs of every initial member (etcd --initial-cluster), this one included.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<string>> InitialCluster { get; init; }

    public string InitialClusterToken { get; init; } = "etcd-cluster";

    public InitialClusterState InitialClusterState { get; init; } = InitialClusterState.New;

    /// <summary>URLs clients use to reach this member (shown in MemberList).</summary>
    public IReadOnlyList<string> ClientUrls { get; init; } = [];

    /// <summary>One raft tick; the leader heartbeats every tick.</summary>
    public int HeartbeatIntervalMs { get; init; } = 100;

    /// <summary>Election timeout; in ticks it is ElectionTimeoutMs / HeartbeatIntervalMs (at least 2).</summary>
    public int ElectionTimeoutMs { get; init; } = 1000;

    /// <summary>Applied entries between two state snapshots (then the log before the snapshot is released).</summary>
    public ulong SnapshotCount { get; init; } = 100_000;

    /// <summary>
    /// Applied entry data between two state snapshots, whatever their count: large entries make a
    /// snapshot (and release the log) sooner, which bounds the in-memory log.
    /// </summary>
    public ulong SnapshotBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>Entries kept in memory behind a snapshot so that a slightly slow follower gets entries, not a snapshot.</summary>
    public ulong SnapshotCatchUpEntries { get; init; } = 5_000;

    /// <summary>At most this much entry data is kept behind a snapshot (of the <see cref="SnapshotCatchUpEntries"/>, the newest that fit).</summary>
    public ulong SnapshotCatchUpBytes { get; init; } = 32 * 1024 * 1024;

    /// <summary>etcd --quota-backend-bytes: above it puts fail and NOSPACE is raised.</summary>
    public long QuotaBytes { get; init; } = 2L * 1024 * 1024 * 1024;

    /// <summary>
    /// etcd --max-request-bytes: an encoded command above it is refused with RequestTooLarge. The peer
    /// transport must carry such an entry: give it <see cref="PeerMaxFrameBytes"/>.
    /// </summary>
    public int MaxRequestBytes { get; init; } = 1536 * 1024;

    /// <summary>
    /// Entry bytes per raft append message (etcd's MaxSizePerMsg, 1 MiB): entries are batched up to it,
    /// counted as data + 16 bytes each; a single bigger entry (up to <see cref="MaxRequestBytes"/>) goes alone.
    /// </summary>
    public const int RaftMaxSizePerMsg = 1 << 20;

    /// <summary>
    /// Bytes of entries the leader holds uncommitted before it refuses proposals (TooManyRequests); one
    /// entry is always accepted. Keeps one Ready, written as one WAL record, far below the WAL's record limit.
    /// </summary>
    public const long RaftMaxUncommittedBytes = 128L * 1024 * 1024;

    /// <summary>
    /// The peer frame limit this member needs (the transport's MaxFrameBytes must be at least this): an
    /// append message holds one entry of at most <see cref="MaxRequestBytes"/>, or entries counted at most
    /// <see cref="RaftMaxSizePerMsg"/> whose encoding adds at most 10 bytes each beyond the 16 counted
    /// (so under twice that), plus the message header; 64 KiB of headroom covers the header and the
    /// frame's kind bytes. Never below 8 MiB (the transport's default).
    /// </summary>
    public int PeerMaxFrameBytes => PeerMaxFrameBytesFor(MaxRequestBytes);

    /// <summary><see cref="PeerMaxFrameBytes"/> for a given --max-request-bytes.</summary>
    public static int PeerMaxFrameBytesFor(int maxRequestBytes)
    {
        var needed = Math.Max((long)maxRequestBytes, 2L * RaftMaxSizePerMsg) + (64 * 1024);
        return (int)Math.Clamp(needed, 8L * 1024 * 1024, int.MaxValue);
    }

    /// <summary>
    /// etcd --strict-reconfig-check: refuse a member add, remove or promote that would leave fewer started,
    /// or fewer active, voters than a quorum (docs/server.md, Membership).
    /// </summary>
    public bool StrictReconfigCheck { get; init; } = true;

    /// <summary>etcd --max-txn-ops.</summary>
    public int MaxTxnOps { get; init; } = 128;

    /// <summary>Bytes preallocated per WAL segment file.</summary>
    public long WalSegmentBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>How long a proposal or linearizable read waits before answering Timeout; null = 5 s + 2 election timeouts (etcd's rule).</summary>
    public TimeSpan? RequestTimeout { get; init; }

    /// <summary>How often the leader checkpoints every lease's remaining TTL into the log.</summary>
    public TimeSpan LeaseCheckpointInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Most expired leases the leader revokes per tick (etcd revokes at most 1000 per second).</summary>
    public int LeaseRevokesPerTick { get; init; } = 100;

    /// <summary>How often the leader compares its HashKV with the followers' (0 = never).</summary>
    public TimeSpan CorruptCheckInterval { get; init; } = TimeSpan.Zero;

    /// <summary>Seeds the raft election jitter and the lease id generator.</summary>
    public int RandomSeed { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The peer transport, created for <see cref="ConclaveMember.MemberIdOf"/> id and the cluster id; the member starts and stops it.</summary>
    public required IPeerTransport Transport { get; init; }

    internal int ElectionTicks => Math.Max(2, ElectionTimeoutMs / Math.Max(1, HeartbeatIntervalMs));

    internal TimeSpan EffectiveRequestTimeout => RequestTimeout ?? TimeSpan.FromMilliseconds(5000 + (2 * ElectionTimeoutMs));
}
