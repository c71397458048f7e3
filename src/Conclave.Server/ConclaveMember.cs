using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Threading.Channels;
using Conclave.Raft;
using Conclave.Server.Api;
using Conclave.Server.Leases;
using Conclave.Server.Metrics;
using Conclave.Server.Services;
using Conclave.Server.StateMachine;
using Conclave.Server.Transport;
using Conclave.Server.Watch;
using Conclave.Storage.Mvcc;
using Conclave.Storage.Snapshots;
using Conclave.Storage.Wal;
using Microsoft.Extensions.Logging;

namespace Conclave.Server;

/// <summary>
/// One member of a Conclave cluster: the raft driver loop, the state machine it applies to, the
/// leases, and the server API the front ends call (<see cref="KeyValue"/>, <see cref="Leases"/>,
/// <see cref="Cluster"/>, <see cref="Maintenance"/>, <see cref="Watches"/>). Create it with
/// <see cref="StartAsync"/> and stop it with <see cref="DisposeAsync"/>. See docs/server.md.
/// </summary>
public sealed partial class ConclaveMember : IAsyncDisposable
{
    /// <summary>The etcd version this member reports in Status (clients check it for features).</summary>
    public const string EtcdVersion = "3.6.0";

    private readonly ConclaveMemberOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly IPeerTransport _transport;
    private readonly WriteAheadLog _wal;
    private readonly SnapshotStore _snapshots;
    private readonly SemaphoreSlim _snapshotGate = new(1, 1);
    private readonly MemoryStorage _storage;
    private readonly RawNode _node;
    private readonly KvStateMachine _sm;
    private readonly Lessor _lessor;
    private readonly WatchHub _watchHub;
    private readonly TimeSpan _requestTimeout;
    private readonly MemberMetrics _metrics;
    private readonly Channel<Input> _inputs = Channel.CreateUnbounded<Input>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<ulong, ProposalWaiter> _waiters = new();
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<byte[]>> _peerRequests = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ulong _requestIdPrefix;
    private long _requestCounter;
    private long _leaseIdCounter;
    private volatile RaftView _view;
    private volatile bool _stopped;
    private ITimer? _ticker;
    private Task _loop = Task.CompletedTask;
    private Task _inboundPump = Task.CompletedTask;
    private Task _transferPump = Task.CompletedTask;
    private Task _statusPump = Task.CompletedTask;

    private ConclaveMember(ConclaveMemberOptions options, StoredIdentity identity, MemberMetrics metrics, WriteAheadLog wal, SnapshotStore snapshots, MemoryStorage storage, KvStateMachine sm, ulong applied, ConfState confState, ulong snapshotIndex)
    {
        _options = options;
        _metrics = metrics;
        _log = options.LoggerFactory.CreateLogger("Conclave.Server.Member");
        _time = options.Time;
        _transport = options.Transport;
        var memberId = identity.MemberId;
        MemberId = memberId;
        ClusterId = identity.ClusterId;
        ClusterToken = identity.ClusterToken;
        _wal = wal;
        _snapshots = snapshots;
        _storage = storage;
        _sm = sm;
        _confState = confState;
        _snapshotIndex = snapshotIndex;
        _requestTimeout = options.EffectiveRequestTimeout;
        _node = new RawNode(new RaftConfig
        {
            Id = memberId,
            Storage = storage,
            ElectionTick = options.ElectionTicks,
            HeartbeatTick = 1,
            Applied = applied,
            PreVote = true,
            CheckQuorum = true,
            RandomSeed = options.RandomSeed,
            MaxSizePerMsg = ConclaveMemberOptions.RaftMaxSizePerMsg,
            MaxUncommittedEntriesSize = ConclaveMemberOptions.RaftMaxUncommittedBytes,
            MaxInflightMsgs = 256,
        });
        var hs = storage.InitialState().HardState;
        _view = new RaftView(0, hs.Term, hs.Commit, applied, RaftRole.Follower, confState.Learners.Contains(memberId));
        _lessor = new Lessor(_time, TimeSpan.FromMilliseconds(options.ElectionTimeoutMs), _requestTimeout);
        _watchHub = new WatchHub(sm.Store, null, _time);

        // etcd's request id layout: 16 bits of the member id, then a counter that starts at the
        // start time in milliseconds, so ids stay unique across restarts of the member.
        _requestIdPrefix = (memberId & 0xFFFF) << 48;
        _requestCounter = (_time.GetUtcNow().ToUnixTimeMilliseconds() & 0xFF_FFFF_FFFF) << 8;

        KeyValue = new KeyValueService(this);
        Leases = new LeaseService(this);
        Cluster = new ClusterService(this);
        Maintenance = new MaintenanceService(this);
    }

    public ulong MemberId { get; }

    public ulong ClusterId { get; }

    /// <summary>The cluster token new members' ids derive from: the one stored in the data dir (see <see cref="StoredIdentity"/>).</summary>
    internal string ClusterToken { get; }

    public string Name => _options.Name;

    public IKeyValueApi KeyValue { get; }

    public ILeaseApi Leases { get; }

    public IClusterApi Cluster { get; }

    public IMaintenanceApi Maintenance { get; }

    /// <summary>This member's latency histograms (WAL fsync, proposal stages), for the metrics endpoints.</summary>
    public MemberMetrics Metrics => _metrics;

    /// <summary>Watch streams over this member's applied state (<see cref="WatchHub.OpenStream"/>).</summary>
    public WatchHub Watches => _watchHub;

    /// <summary>The leader this member knows (0 = none).</summary>
    public ulong Leader => _view.Lead;

    public ulong Term => _view.Term;

    public bool IsLeader => _view.Role == RaftRole.Leader;

    /// <summary>Index of the last entry applied to the state machine.</summary>
    public ulong AppliedIndex => _view.Applied;

    /// <summary>
    /// Completes when the member stopped: normally after <see cref="DisposeAsync"/> or after this member's
    /// removal from the cluster (<see cref="IsRemoved"/>), or because the loop failed (the task then faults).
    /// </summary>
    public Task Completion => _loop;

    internal KvStateMachine StateMachine => _sm;

    internal ConclaveMemberOptions Options => _options;

    internal ILogger Log => _log;

    internal ResponseHeader Header(long revision) => new(ClusterId, MemberId, revision, _view.Term);

    internal ResponseHeader Header() => Header(_sm.Store.CurrentRevision);

    /// <summary>
    /// The member id this options record gives (what the transport must be created with): the one
    /// stored in the data dir when it has one, else the one the flags give.
    /// </summary>
    public static ulong MemberIdOf(ConclaveMemberOptions options) => IdentityOf(options).MemberId;

    /// <summary>The cluster id (what the transport must be created with), as <see cref="MemberIdOf"/>.</summary>
    public static ulong ClusterIdOf(ConclaveMemberOptions options) => IdentityOf(options).ClusterId;

    /// <summary>
    /// The identity of this member: the data dir's (<see cref="StoredIdentity"/>) when it has one, so a
    /// restart ignores --initial-cluster and --initial-cluster-token as etcd does; else from the flags.
    /// </summary>
    public static StoredIdentity IdentityOf(ConclaveMemberOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return StoredIdentity.Read(options.DataDir) ?? FlagIdentity(options);
    }

    private static StoredIdentity FlagIdentity(ConclaveMemberOptions options)
    {
        if (!options.InitialCluster.TryGetValue(options.Name, out var urls))
        {
            throw new ArgumentException($"server: member name '{options.Name}' is not in the initial cluster", nameof(options));
        }
        return new StoredIdentity(MemberIdentity.MemberId(urls, options.InitialClusterToken), MemberIdentity.ClusterId(options.InitialClusterToken), options.InitialClusterToken);
    }

    /// <summary>
    /// Opens (or bootstraps) the member's data dir and starts the loop, the tick timer and the
    /// transport. New cluster: the initial members are recorded as a snapshot at index N (one
    /// configuration change per member, as if they had been applied), identical on every initial
    /// member. Restart: the newest valid snapshot is restored and the WAL entries after it are
    /// handed back by the consensus core as committed entries to apply.
    /// </summary>
    public static async Task<ConclaveMember> StartAsync(ConclaveMemberOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var stored = StoredIdentity.Read(options.DataDir);
        var identity = stored ?? FlagIdentity(options);
        var memberId = identity.MemberId;
        if (options.Transport.LocalId != memberId)
        {
            throw new ArgumentException($"server: the transport is for member {options.Transport.LocalId:x16}, but this member's id is {memberId:x16}", nameof(options));
        }
        if (options.Transport.MaxFrameBytes < options.PeerMaxFrameBytes)
        {
            throw new ArgumentException($"server: the transport's frame limit ({options.Transport.MaxFrameBytes} bytes) cannot carry a request of --max-request-bytes {options.MaxRequestBytes}; it must be at least {options.PeerMaxFrameBytes} (ConclaveMemberOptions.PeerMaxFrameBytes)", nameof(options));
        }
        var memberDir = Path.Combine(options.DataDir, "member");
        var phases = Stopwatch.StartNew();
        var snapshots = new SnapshotStore(Path.Combine(memberDir, "snap"));
        var metrics = new MemberMetrics();
        var opened = WriteAheadLog.Open(Path.Combine(memberDir, "wal"), new WalOptions { SegmentSize = options.WalSegmentBytes, Failpoints = Failpoints.Wal, OnFsync = metrics.WalFsync.Observe });
        var wal = opened.Log;
        var log = options.LoggerFactory.CreateLogger("Conclave.Server.Member");
        try
        {
            if (stored is { } had)
            {
                // etcd ignores the initial-cluster flags once the data dir is in use; say so when they disagree.
                var flags = options.InitialCluster.ContainsKey(options.Name) ? FlagIdentity(options) : (StoredIdentity?)null;
                if (flags != had)
                {
                    ServerLog.FlagsIgnored(log, had.MemberId, had.ClusterId, had.ClusterToken, flags?.MemberId ?? 0, flags?.ClusterId ?? 0, options.InitialClusterToken);
                }
            }
            else
            {
                identity.Write(options.DataDir);
            }
            if (opened.TornTail is { } torn)
            {
                ServerLog.TornTail(log, memberId, torn.FilePath, torn.Offset);
            }
            var minTtl = (long)Math.Ceiling(1.5 * options.ElectionTimeoutMs / 1000.0);
            var sm = new KvStateMachine(new MvccStore(new MvccStoreOptions { QuotaBytes = options.QuotaBytes, MaxTxnOps = options.MaxTxnOps }), minTtl);
            var storage = new MemoryStorage();
            var walMs = phases.Elapsed.TotalMilliseconds;
            // The image streams from the file into a new store that is swapped in only once the
            // file's checksum matched; a damaged file is skipped for the next older one.
            var loaded = snapshots.RestoreLatest((_, image) => sm.Restore(image));
            var restoreMs = phases.Elapsed.TotalMilliseconds - walMs;
            foreach (var skipped in loaded.Skipped)
            {
                ServerLog.SnapshotSkipped(log, memberId, skipped.FilePath, skipped.Reason);
            }
            var snapshot = loaded.Metadata is { } restored ? new Snapshot(restored, ReadOnlyMemory<byte>.Empty) : null;
            var hardState = opened.HardState;
            IReadOnlyList<Entry> entries = opened.Entries;
            string how;
            var fresh = snapshot is null && opened.HardState.IsEmpty && opened.Entries.Count == 0 && opened.Snapshot.Index == 0;
            if (fresh && options.InitialClusterState == InitialClusterState.New)
            {
                (snapshot, hardState) = await BootstrapAsync(options, sm, snapshots, wal, ct);
                how = "bootstrapped a new cluster";
            }
            else if (fresh)
            {
                how = "joining an existing cluster";
            }
            else
            {
                if (snapshot is not null && snapshot.Metadata.Index < opened.Snapshot.Index)
                {
                    throw new InvalidDataException($"server: the WAL says a snapshot at index {opened.Snapshot.Index} exists, but the newest valid snapshot file is at {snapshot.Metadata.Index}");
                }
                if (snapshot is not null && snapshot.Metadata.Index > opened.Snapshot.Index)
                {
                    // A leader's snapshot made durable in the store just before a crash, which the
                    // WAL never recorded: record it now, or the WAL refuses the entries after it.
                    await wal.SaveSnapshotMarkerAsync(snapshot.Metadata.Index, snapshot.Metadata.Term, ct);
                }
                how = "restarted from its data dir";
            }

            ConfState confState = ConfState.Empty;
            ulong applied = 0;
            if (snapshot is not null)
            {
                storage.ApplySnapshot(new Snapshot(snapshot.Metadata, ReadOnlyMemory<byte>.Empty));
                confState = snapshot.Metadata.ConfState;
                applied = snapshot.Metadata.Index;
                if (hardState.Commit < applied)
                {
                    // A snapshot covers only committed entries; the WAL's commit may lag when the
                    // snapshot file was written just before a crash.
                    hardState = hardState with { Commit = applied, Term = Math.Max(hardState.Term, snapshot.Metadata.Term) };
                }
            }
            var logStart = phases.Elapsed.TotalMilliseconds;
            storage.Append(entries);
            if (!hardState.IsEmpty)
            {
                storage.SetHardState(hardState);
            }
            var logMs = phases.Elapsed.TotalMilliseconds - logStart;
            var member = new ConclaveMember(options, identity, metrics, wal, snapshots, storage, sm, applied, confState, applied);
            await member.RunAsync(ct);
            StartupPhases(log, memberId, walMs, entries.Count, restoreMs, loaded.DataBytes, logMs, phases.Elapsed.TotalMilliseconds);
            ServerLog.Started(log, memberId, member.ClusterId, how, applied);
            return member;
        }
        catch
        {
            wal.Dispose();
            throw;
        }
    }

    [LoggerMessage(EventId = 3090, Level = LogLevel.Information, Message = "member {MemberId:x16} startup phases: WAL open {WalMs:F0} ms ({Entries} entries), snapshot restore {RestoreMs:F0} ms ({SnapshotBytes} bytes), log load {LogMs:F0} ms, total {TotalMs:F0} ms")]
    private static partial void StartupPhases(ILogger logger, ulong memberId, double walMs, int entries, double restoreMs, long snapshotBytes, double logMs, double totalMs);

    private static async Task<(Snapshot, HardState)> BootstrapAsync(ConclaveMemberOptions options, KvStateMachine sm, SnapshotStore snapshots, WriteAheadLog wal, CancellationToken ct)
    {
        var initial = options.InitialCluster
            .Select(kv => new StateMachine.Member
            {
                Id = MemberIdentity.MemberId(kv.Value, options.InitialClusterToken),
                Name = kv.Key,
                PeerUrls = kv.Value.ToList(),
                // Client URLs are published by each member once it runs (MemberAttributesCommand),
                // so the bootstrap state is the same on every initial member.
            })
            .OrderBy(m => m.Id)
            .ToList();
        if (initial.Select(m => m.Id).Distinct().Count() != initial.Count)
        {
            throw new ArgumentException("server: two initial members have the same peer URLs", nameof(options));
        }
        ulong index = 0;
        foreach (var m in initial)
        {
            index++;
            var cc = ConfChange.Single(ConfChangeType.AddNode, m.Id) with { Context = m.Encode() };
            sm.ApplyConfChange(new Entry(1, index, EntryType.ConfChange, cc.Encode()), cc);
        }
        var confState = new ConfState { Voters = initial.Select(m => m.Id).ToList() };
        var metadata = new SnapshotMetadata(index, 1, confState);
        using var image = new MemoryStream();
        sm.WriteSnapshot(image);
        var data = image.ToArray();
        await snapshots.SaveAsync(metadata, data, ct);
        var hs = new HardState(1, 0, index);
        await wal.SaveSnapshotMarkerAsync(index, 1, ct);
        await wal.SaveAsync(hs, [], ct);
        return (new Snapshot(metadata, data), hs);
    }

    private async Task RunAsync(CancellationToken ct)
    {
        UpdatePeers();
        await _transport.StartAsync(ct);
        _watchHub.Start();
        PostCampaignIfSoleVoter();
        _loop = Task.Run(LoopAsync, CancellationToken.None);
        _inboundPump = Task.Run(InboundPumpAsync, CancellationToken.None);
        _transferPump = Task.Run(TransferPumpAsync, CancellationToken.None);
        _statusPump = Task.Run(StatusPumpAsync, CancellationToken.None);
        var interval = TimeSpan.FromMilliseconds(_options.HeartbeatIntervalMs);
        _ticker = _time.CreateTimer(_ => Post(TickInput.Instance), null, interval, interval);
        _ = Task.Run(PublishAttributesAsync, CancellationToken.None);
    }

    /// <summary>
    /// Publishes this member's name and client URLs through the log (etcd's publish), retrying
    /// until it is applied or the member stops; skipped when the replicated record already says so
    /// (a restart with the same settings).
    /// </summary>
    private async Task PublishAttributesAsync()
    {
        var command = new MemberAttributesCommand(MemberId, _options.Name, _options.ClientUrls.ToList());
        try
        {
            while (Refusal is null)
            {
                if (_sm.Members.TryGetValue(MemberId, out var known) && known.Name == command.Name && known.ClientUrls.SequenceEqual(command.ClientUrls))
                {
                    return;
                }
                if (!await WaitForLeaderAsync(0, _stop.Token))
                {
                    continue;
                }
                var (status, _) = await ProposeAsync(command, _stop.Token);
                if (status is ServerStatus.Ok or ServerStatus.Stopped or ServerStatus.Removed)
                {
                    return;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(_options.HeartbeatIntervalMs), _time, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Stops the loop (waiting callers get Stopped), the transport and the WAL. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        if (_ticker is not null)
        {
            await _ticker.DisposeAsync();
        }
        _inputs.Writer.TryComplete();
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (Exception)
        {
            // Already logged by the loop.
        }
        await AwaitSnapshotSaveOnStopAsync();
        await _transport.StopAsync();
        await Task.WhenAll(_inboundPump, _transferPump, _statusPump).ContinueWith(_ => { }, TaskScheduler.Default);
        await _watchHub.DisposeAsync();
        FailAllWaiters(ServerStatus.Stopped);
        _wal.Dispose();
        _sm.Store.Dispose();
        _stop.Dispose();
        ServerLog.Stopped(_log, MemberId);
    }

    private void Post(Input input) => _inputs.Writer.TryWrite(input);

    /// <summary>Member id → first peer URL as an endpoint, for every member but this one.</summary>
    private void UpdatePeers()
    {
        var peers = new Dictionary<ulong, EndPoint>();
        if (_sm.Members.Count > 0 || !_options.InitialCluster.ContainsKey(_options.Name))
        {
            foreach (var m in _sm.Members.Values)
            {
                if (m.Id != MemberId && m.PeerUrls.Count > 0)
                {
                    peers[m.Id] = ToEndPoint(m.PeerUrls[0]);
                }
            }
        }
        else
        {
            // A member joining an existing cluster knows its peers only from its flags until the
            // leader's snapshot arrives.
            foreach (var (_, urls) in _options.InitialCluster)
            {
                var id = MemberIdentity.MemberId(urls, ClusterToken);
                if (id != MemberId && urls.Count > 0)
                {
                    peers[id] = ToEndPoint(urls[0]);
                }
            }
        }
        _transport.UpdatePeers(peers);
    }

    internal static EndPoint ToEndPoint(string url)
    {
        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Port > 0)
        {
            return IPAddress.TryParse(uri.Host, out var ip) ? new IPEndPoint(ip, uri.Port) : new DnsEndPoint(uri.Host, uri.Port);
        }
        return new DnsEndPoint(url, 0);
    }

    /// <summary>What the loop publishes after each Ready, for readers on other threads.</summary>
    private sealed record RaftView(ulong Lead, ulong Term, ulong Commit, ulong Applied, RaftRole Role, bool IsLearner);
}
