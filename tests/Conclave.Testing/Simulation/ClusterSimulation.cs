using System.Buffers.Binary;
using Conclave.Raft;
using Conclave.Verification.Linearizability;

namespace Conclave.Testing.Simulation;

/// <summary>
/// One deterministic run of a Conclave.Raft cluster: the seed decides every delay, loss, crash,
/// partition, membership change and client request. Each step every live member ticks once,
/// due messages are delivered, clients act, and every member's Ready is handled as a real driver
/// would (send Messages, persist, send MessagesAfterPersist, apply, Advance), with a chance of
/// crashing between those steps. The Raft safety properties are checked after every step; at the
/// end the network is healed, crashed members restart, the cluster must converge, and the client
/// history must be linearizable. Any violation throws <see cref="SimulationFailureException"/>.
/// </summary>
public sealed partial class ClusterSimulation
{
    private const int WriteRetryTicks = 50;
    private const int ReadRetryTicks = 40;
    private const int GiveUpTicks = 300;

    private readonly int _seed;
    private readonly SimulationOptions _options;
    private readonly Random _random;
    private readonly FaultCounter _faults = new();
    private readonly SimNetwork _net;
    private readonly SortedDictionary<ulong, SimMember> _members = [];
    private readonly List<SimClient> _clients = [];
    private readonly List<Operation<KvInput, KvOutput>> _history = [];
    private readonly List<ulong> _pendingRemovals = [];
    private long _step;
    private long _clock;
    private long _nextCommandId;
    private long _nextReadContext;
    private ulong _nextMemberId;
    private long _healAt;
    private int _restarts;
    private long _snapshotsInstalled;
    private double _readyCrashRate;
    private bool _stepWhilePersisting;
    private long _writesInFlight;

    private ClusterSimulation(int seed, SimulationOptions options)
    {
        _seed = seed;
        _options = options;
        _random = new Random(seed);
        _net = new SimNetwork(_random, _faults);
    }

    /// <summary>Runs one seed to the end. Throws <see cref="SimulationFailureException"/> on any violation.</summary>
    public static SimulationResult Run(int seed, SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ClusterSimulation(seed, options).Execute();
    }

    private SimulationResult Execute()
    {
        try
        {
            return ExecuteUnchecked();
        }
        catch (SimulationFailureException)
        {
            throw;
        }
        catch (Exception e)
        {
            throw new SimulationFailureException(_seed, _step, SimulationFailureKind.Unexpected, $"unexpected {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }
    }

    private SimulationResult ExecuteUnchecked()
    {
        var voters = Enumerable.Range(1, _options.Members).Select(i => (ulong)i).ToArray();
        foreach (var id in voters)
        {
            // Bootstrap with a snapshot at index 1 naming the voters, rather than a ConfState alone:
            // a member added later then learns the initial configuration from the leader's snapshot
            // (its log cannot start before index 2), not from entries that were never in the log.
            var m = new SimMember(id);
            m.Storage.ApplySnapshot(new Snapshot(new SnapshotMetadata(1, 1, new ConfState { Voters = voters }), ReadOnlyMemory<byte>.Empty));
            m.Storage.SetHardState(new HardState(1, 0, 1));
            _members[id] = m;
            Start(m);
        }

        _nextMemberId = (ulong)_options.Members + 1;
        for (var i = 0; i < _options.Clients; i++)
        {
            _clients.Add(new SimClient(i + 1));
        }

        if (_options.Faults)
        {
            _readyCrashRate = _options.ReadyCrashRate ?? new[] { 0.0005, 0.002, 0.01 }[_random.Next(3)];
            _net.LossRate = _random.NextDouble() * 0.05;
            _net.DuplicateRate = _random.NextDouble() * 0.03;
            _net.MaxExtraDelay = _random.Next(4);
        }
        else
        {
            _net.MaxExtraDelay = _random.Next(2);
        }

        _stepWhilePersisting = _options.StepWhilePersisting ?? _random.Next(2) == 0;
        Trace($"start: {_options.Members} members, loss {_net.LossRate:F3}, duplication {_net.DuplicateRate:F3}, "
            + $"extra delay up to {_net.MaxExtraDelay}, crash chance per Ready {_readyCrashRate}, "
            + $"{(_stepWhilePersisting ? "pipelined" : "sequential")} driver");
        for (var i = 0; i < _options.Steps; i++)
        {
            Step(faults: _options.Faults, newOperations: true);
        }

        Settle();
        var leader = CheckConverged();
        var check = LinearizabilityChecker.Check(KeyValueModel.Instance, _history, new CheckOptions { MaxSteps = 5_000_000 });
        if (check.Outcome == CheckOutcome.Illegal)
        {
            Fail($"client history is not linearizable:\n{check.Report}", SimulationFailureKind.Linearizability);
        }

        Trace($"done: commit {leader.Commit}, {_history.Count} operations, linearizability {check.Outcome}");
        var faults = new SortedDictionary<string, long>(_faults.Counts, StringComparer.Ordinal);
        return new SimulationResult(
            _seed,
            _options.Members,
            _step,
            faults,
            check.Operations,
            _history.Count(op => op.IsPending),
            leader.Commit,
            _snapshotsInstalled,
            check.Outcome,
            _writesInFlight);
    }

    private void Step(bool faults, bool newOperations)
    {
        _step++;
        if (faults)
        {
            InjectFaults();
        }

        foreach (var m in _members.Values)
        {
            if (!m.Alive && !m.Removed && m.RestartAt <= _step)
            {
                Restart(m);
            }
        }

        foreach (var m in _members.Values)
        {
            m.Node?.Tick();
        }

        Deliver();
        ClientsAct(newOperations);
        ProcessReadies(faults);
        ClientsComplete();
        CheckSafety();
    }

    private void Deliver()
    {
        foreach (var (msg, blocked) in _net.TakeDue(_step))
        {
            var sender = _members.GetValueOrDefault(msg.From);
            var target = _members.GetValueOrDefault(msg.To);
            if (_options.TraceMessages)
            {
                Trace($"{(blocked ? "blocked" : target?.Alive == true ? "deliver" : "dropped")} {msg}");
            }

            if (blocked || target is null || !target.Alive)
            {
                if (msg.Type == MessageType.Snapshot && sender?.Node is { } s)
                {
                    s.ReportSnapshot(msg.To, failed: true);
                }

                if (sender?.Node is { } u && msg.Type is MessageType.Append or MessageType.Snapshot)
                {
                    u.ReportUnreachable(msg.To);
                }

                continue;
            }

            var result = target.Node!.Step(msg);
            if (_options.TraceMessages && result.Status != StepStatus.Ok)
            {
                Trace($"member {target.Id}: {result}");
            }

            if (result.Status == StepStatus.Rejected)
            {
                Fail($"member {target.Id} rejected a peer message {msg}: {result}");
            }

            if (msg.Type == MessageType.Snapshot && sender?.Node is { } sn)
            {
                sn.ReportSnapshot(msg.To, failed: false);
            }
        }
    }

    private void Send(RawNode from, Message msg)
    {
        if (!_net.Send(_step, msg) && msg.Type == MessageType.Snapshot)
        {
            from.ReportSnapshot(msg.To, failed: true);
        }
    }

    private void ProcessReadies(bool crashes)
    {
        FinishWrites(crashes);
        for (var round = 0; round < 4; round++)
        {
            var any = false;
            foreach (var m in _members.Values)
            {
                if (m.Node is { } node && node.HasReady())
                {
                    any = true;
                    HandleReady(m, node, crashes);
                }
            }

            if (!any)
            {
                break;
            }
        }

        foreach (var id in _pendingRemovals)
        {
            var m = _members[id];
            if (!m.Removed)
            {
                m.Removed = true;
                m.Node = null;
                m.Writing = null;
                m.ReadStates.Clear();
                Trace($"member {id} stopped: removed from the configuration");
            }
        }

        _pendingRemovals.Clear();
    }

    /// <summary>
    /// The driver loop for one Ready, in the order the Ready contract requires. With the pipelined
    /// driver (<see cref="SimulationOptions.StepWhilePersisting"/>) a Ready's write may stay in flight
    /// for a few steps, as the member's loop does while its WAL fsyncs: its committed entries are
    /// applied at once, the member keeps stepping messages and requests meanwhile and sends what
    /// <see cref="RawNode.TakeMessages"/> gives at once, and the write completes in a later step
    /// (<see cref="FinishWrites"/>).
    /// </summary>
    private void HandleReady(SimMember m, RawNode node, bool crashes)
    {
        var rd = node.GetReady();
        foreach (var msg in rd.Messages)
        {
            Send(node, msg);
        }

        if (_options.Bug == SimulatedBug.DriverSendsBeforePersist)
        {
            foreach (var msg in rd.MessagesAfterPersist)
            {
                Send(node, msg);
            }
        }

        if (crashes && _random.NextDouble() < _readyCrashRate)
        {
            Crash(m, "crash-before-persist");
            return;
        }

        if (_stepWhilePersisting && rd.Snapshot.IsEmpty && rd.MustSync && _random.Next(2) == 0)
        {
            _writesInFlight++;
            ApplyReady(m, node, rd);
            m.Writing = rd;
            m.WriteDoneAt = _step + 1 + _random.Next(3);
            return;
        }

        if (!rd.Snapshot.IsEmpty)
        {
            CheckSnapshot(m, rd.Snapshot);
            m.Storage.ApplySnapshot(rd.Snapshot);
        }

        if (!Persist(m, node, rd, crashes))
        {
            return;
        }

        if (!rd.Snapshot.IsEmpty)
        {
            m.Sm = KvStateMachine.Restore(rd.Snapshot.Data);
            m.Applied = rd.Snapshot.Metadata.Index;
            m.ConfState = rd.Snapshot.Metadata.ConfState;
            _snapshotsInstalled++;
            Trace($"member {m.Id} installed snapshot {rd.Snapshot.Metadata.Term}/{rd.Snapshot.Metadata.Index}");
        }

        ApplyReady(m, node, rd);
        Advance(m, node, rd, crashes);
    }

    /// <summary>
    /// For every member whose Ready is still being written: sends the messages the core produced
    /// meanwhile that need nothing durable, and completes the write when its step has come.
    /// </summary>
    private void FinishWrites(bool crashes)
    {
        foreach (var m in _members.Values)
        {
            if (m.Node is not { } node || m.Writing is not { } rd)
            {
                continue;
            }

            foreach (var msg in node.TakeMessages())
            {
                Send(node, msg);
            }

            if (m.WriteDoneAt <= _step)
            {
                m.Writing = null;
                if (Persist(m, node, rd, crashes))
                {
                    Advance(m, node, rd, crashes);
                }
            }
        }
    }

    /// <summary>Entries and hard state made durable, then the messages that waited for them. False when the member crashed.</summary>
    private bool Persist(SimMember m, RawNode node, Ready rd, bool crashes)
    {
        if (rd.Entries.Count > 0)
        {
            m.Storage.Append(rd.Entries);
            CheckLogMatching(m, rd.Entries);
        }

        if (!rd.HardState.IsEmpty)
        {
            m.Storage.SetHardState(_options.Bug == SimulatedBug.DriverForgetsVote ? rd.HardState with { Vote = 0 } : rd.HardState);
        }

        if (crashes && _random.NextDouble() < _readyCrashRate)
        {
            Crash(m, "crash-after-persist");
            return false;
        }

        if (_options.Bug != SimulatedBug.DriverSendsBeforePersist)
        {
            foreach (var msg in rd.MessagesAfterPersist)
            {
                Send(node, msg);
            }
        }

        return true;
    }

    private void ApplyReady(SimMember m, RawNode node, Ready rd)
    {
        foreach (var e in rd.CommittedEntries)
        {
            Apply(m, node, e);
        }

        foreach (var rs in rd.ReadStates)
        {
            if (rs.Context.Length == 8)
            {
                m.ReadStates[BinaryPrimitives.ReadInt64LittleEndian(rs.Context.Span)] = rs.Index;
            }
        }
    }

    private void Advance(SimMember m, RawNode node, Ready rd, bool crashes)
    {
        if (crashes && _random.NextDouble() < _readyCrashRate)
        {
            Crash(m, "crash-before-advance");
            return;
        }

        node.Advance(rd);
    }

    private void Apply(SimMember m, RawNode node, Entry e)
    {
        if (e.Index != m.Applied + 1)
        {
            Fail($"member {m.Id} was handed committed entry {e.Index} after applying {m.Applied} (entries must be handed out once, in order)");
        }

        CheckStateMachineSafety(m, e);
        if (e.Type == EntryType.ConfChange)
        {
            var cc = ConfChange.Decode(e.Data.Span);
            var before = m.ConfState;
            m.ConfState = node.ApplyConfChange(cc);
            foreach (var id in AllIds(before).Except(AllIds(m.ConfState)))
            {
                _pendingRemovals.Add(id);
            }
        }
        else if (!e.Data.IsEmpty)
        {
            m.Sm.Apply(Command.Decode(e.Data.Span));
        }

        m.Applied = e.Index;
    }

    private static IEnumerable<ulong> AllIds(ConfState cs) =>
        cs.Voters.Concat(cs.Learners).Concat(cs.VotersOutgoing).Concat(cs.LearnersNext).Distinct();

    private RaftConfig Config(SimMember m, ulong applied) => new()
    {
        Id = m.Id,
        Storage = m.Storage,
        ElectionTick = _options.ElectionTick,
        HeartbeatTick = 1,
        Applied = applied,
        MaxSizePerMsg = 512,
        MaxInflightMsgs = 8,
        PreVote = true,
        CheckQuorum = true,
        RandomSeed = unchecked((_seed * 1_000_003) + ((int)m.Id * 7_919) + (_restarts * 31)), // HashCode is randomized per process: not usable here
        Bugs = _options.Bug switch
        {
            SimulatedBug.VoteTwiceInTerm => RaftBugs.VoteTwiceInTerm,
            SimulatedBug.CommitOnMinority => RaftBugs.CommitOnMinority,
            _ => RaftBugs.None,
        },
    };

    /// <summary>A core over the member's durable storage: the state machine from its snapshot, the rest handed out again by the core.</summary>
    private void Start(SimMember m)
    {
        var snap = m.Storage.Snapshot();
        m.Sm = KvStateMachine.Restore(snap.Data);
        m.Applied = snap.Metadata.Index;
        m.ConfState = m.Storage.InitialState().ConfState;
        m.Node = new RawNode(Config(m, m.Applied));
    }

    /// <summary>Drops everything volatile; the storage keeps exactly what was persisted.</summary>
    private void Crash(SimMember m, string kind)
    {
        m.Node = null;
        m.Writing = null;
        m.Sm = new KvStateMachine();
        m.Applied = 0;
        m.ReadStates.Clear();
        m.RestartAt = _step + 10 + _random.Next(70);
        _faults.Add(kind);
        Trace($"member {m.Id} {kind}, restarts at step {m.RestartAt}");
    }

    /// <summary>A new core over the durable storage; the state machine from the last snapshot, the rest replayed by the core.</summary>
    private void Restart(SimMember m)
    {
        var snap = m.Storage.Snapshot();
        var hs = m.Storage.InitialState().HardState;
        CheckDurableLog(m, hs);
        _restarts++;
        Start(m);
        Trace($"member {m.Id} restarted: term {hs.Term} commit {hs.Commit} snapshot {snap.Metadata.Index} last {m.Storage.LastIndex()}");
    }

    private void Settle()
    {
        _net.Heal();
        _net.LossRate = 0;
        _net.DuplicateRate = 0;
        foreach (var m in _members.Values)
        {
            if (!m.Alive && !m.Removed)
            {
                Restart(m);
            }
        }

        Trace("healed: no more faults, crashed members restarted");
        for (var i = 0; i < _options.SettleSteps; i++)
        {
            Step(faults: false, newOperations: false);
            if (_clients.All(c => c.Op is null) && IsConverged())
            {
                return;
            }
        }

        Fail($"liveness: the healed cluster did not converge within {_options.SettleSteps} steps ({DescribeCluster()})", SimulationFailureKind.Liveness);
    }

    private string DescribeCluster() => string.Join("; ", _members.Values.Select(m => m.Node is { } n
        ? $"{m.Id}: {n.Status().Role} term {n.Status().Term} commit {n.Status().Commit} applied {m.Applied} last {m.Storage.LastIndex()} {n.Status().ConfState}"
            + string.Concat(n.Status().Progress.OrderBy(p => p.Key).Select(p => $" [{p.Key}: {p.Value}]"))
        : $"{m.Id}: {(m.Removed ? "removed" : "down")}"));

    private (SimMember Member, RaftStatus Status)? CurrentLeader()
    {
        (SimMember, RaftStatus)? best = null;
        foreach (var m in _members.Values)
        {
            if (m.Node is { } n)
            {
                var st = n.Status();
                if (st.Role == RaftRole.Leader && (best is null || st.Term > best.Value.Item2.Term))
                {
                    best = (m, st);
                }
            }
        }

        return best;
    }

    private bool IsConverged()
    {
        if (CurrentLeader() is not var (leader, st))
        {
            return false;
        }

        if (st.ConfState.VotersOutgoing.Count > 0)
        {
            if (!st.ConfState.AutoLeave && _step % 20 == 0)
            {
                leader.Node!.ProposeConfChange(ConfChange.LeaveJoint());
            }

            return false;
        }

        if (leader.Storage.LastIndex() != st.Commit)
        {
            return false;
        }

        foreach (var id in st.ConfState.Voters.Concat(st.ConfState.Learners))
        {
            if (!_members.TryGetValue(id, out var m) || !m.Alive || m.Applied != st.Commit)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Every member of the final configuration applied the same entries to the same state.</summary>
    private RaftStatus CheckConverged()
    {
        var (leader, st) = CurrentLeader()!.Value;
        var expected = leader.Sm.Save();
        foreach (var id in st.ConfState.Voters.Concat(st.ConfState.Learners))
        {
            var m = _members[id];
            if (m.Applied != st.Commit || !m.Sm.Save().AsSpan().SequenceEqual(expected))
            {
                Fail($"member {id} ended with applied {m.Applied} and a state that differs from leader {leader.Id} (commit {st.Commit})");
            }

            for (var i = m.Storage.FirstIndex(); i <= m.Storage.LastIndex(); i++)
            {
                if (_committed.TryGetValue(i, out var c) && m.Storage.Term(i) != c.Term)
                {
                    Fail($"member {id} ended with term {m.Storage.Term(i)} at committed index {i} (committed term {c.Term})");
                }
            }
        }

        return st;
    }

    private void Trace(string line) => _options.Trace?.Invoke($"[{_step}] {line}");

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(string message, SimulationFailureKind kind = SimulationFailureKind.Safety) =>
        throw new SimulationFailureException(_seed, _step, kind, message);
}
