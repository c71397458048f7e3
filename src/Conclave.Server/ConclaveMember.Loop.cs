using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Conclave.Raft;
using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Conclave.Server.Transport;
using Conclave.Storage.Snapshots;

namespace Conclave.Server;

public sealed partial class ConclaveMember
{
    // ---- owned by the loop (no other thread touches these) ----
    private ConfState _confState;
    private ulong _snapshotIndex;
    private ulong _lastTerm;
    private ulong _lastLead;
    private long _ticks;
    private long _lastCheckpointTick;
    private ulong _readCounter;
    private List<ReadWaiter> _pendingReads = [];
    private readonly Dictionary<ulong, ReadRound> _readRounds = [];
    private readonly List<ReadRound> _readyReads = [];
    private readonly HashSet<ulong> _snapshotsInFlight = [];
    private (ConfChange Change, TaskCompletionSource<ServerStatus> Done)? _confWaiter;
    private HardState _unsavedHardState;
    private bool _snapshotWanted;
    private Task<SnapshotMetadata>? _snapshotSave;
    private ulong _bytesSinceSnapshot;
    private TaskCompletionSource _snapshotSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _leaderSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Input> _deferredInputs = [];
    private readonly List<Entry> _proposals = [];
    private readonly List<ulong> _proposalIds = [];
    private long _proposalBytes;

    // A batch of proposals goes to the core as one Propose message: one Append per follower and
    // one log append for all of them, instead of one per request.
    private const int MaxProposalBatch = 1024;
    private const long MaxProposalBatchBytes = 512 * 1024;

    /// <summary>
    /// The raft driver: one loop owns the RawNode. Each turn waits for input, drains everything
    /// waiting (proposals, peer messages, ticks, reads...), starts one ReadIndex round for every read
    /// that arrived in the turn, and then handles Readys until the core has none. Consecutive
    /// proposals are handed to the core as one batch (in arrival order; the batch is flushed before
    /// any other input is handled, so the order relative to other inputs is kept).
    /// </summary>
    private async Task LoopAsync()
    {
        _lastTerm = _view.Term;
        try
        {
            var reader = _inputs.Reader;
            while (await reader.WaitToReadAsync())
            {
                DrainInputs(persisting: false);
                while (_node.HasReady())
                {
                    await HandleReadyAsync(_node.GetReady());
                    HandleDeferredInputs();
                }
                if (_snapshotSave is { IsCompleted: true })
                {
                    await FinishSnapshotAsync();
                }
                // While a snapshot is written the store's pruning is held back: stepping it would
                // spin; the finished save posts an input that brings the loop back here.
                if (_sm.Store.CompactionPending && _snapshotSave is null)
                {
                    _sm.Store.StepCompaction();
                    if (_sm.Store.CompactionPending)
                    {
                        Post(NopInput.Instance);
                    }
                }
            }
        }
        catch (Exception ex) when (!_stopped)
        {
            ServerLog.LoopFailed(_log, ex, MemberId);
            _stopped = true;
            FailAllWaiters(ServerStatus.Stopped);
            throw;
        }
    }

    private void Handle(Input input)
    {
        switch (input)
        {
            case TickInput:
                OnTick();
                break;
            case StepInput s:
                _node.Step(s.Message);
                break;
            case ProposeInput p:
                var r = _node.Propose(p.Data);
                if (!r.IsAccepted && p.RequestId != 0 && _waiters.TryRemove(p.RequestId, out var w))
                {
                    w.Complete(RefusedProposalStatus(r), null); // member4: ConclaveMember.Removal.cs
                }
                break;
            case ReadInput read:
                _pendingReads.Add(read.Waiter);
                break;
            case ConfChangeInput c:
                if (_confWaiter is not null)
                {
                    c.Done.TrySetResult(ServerStatus.Unhealthy);
                    break;
                }
                var cr = _node.ProposeConfChange(c.Change);
                if (cr.IsAccepted)
                {
                    _confWaiter = (c.Change, c.Done);
                }
                else
                {
                    c.Done.TrySetResult(cr.Status == ProposeStatus.NotLeader ? ServerStatus.NoLeader : ServerStatus.Unhealthy);
                }
                break;
            case TransferInput t:
                _node.TransferLeader(t.Target);
                break;
            case UnreachableInput u:
                _node.ReportUnreachable(u.Peer);
                break;
            case SnapshotStatusInput ss:
                _snapshotsInFlight.Remove(ss.Peer);
                _node.ReportSnapshot(ss.Peer, ss.Failed);
                break;
            case InvokeInput i:
                i.Run();
                break;
            case NopInput:
                break;
        }
    }

    /// <summary>
    /// A member that is the only voter of its configuration campaigns at once instead of waiting out
    /// an election timeout (1–2 s) that no other member can cut short: it wins by its own vote,
    /// exactly as it would after the timeout (etcd's initial election tick advance does the same).
    /// </summary>
    private void PostCampaignIfSoleVoter()
    {
        if (_confState.Voters.Count == 1 && _confState.Voters.Contains(MemberId) && _confState.VotersOutgoing.Count == 0)
        {
            Post(new InvokeInput(_node.Campaign));
        }
    }

    private void AddProposal(ProposeInput p)
    {
        _proposals.Add(new Entry(0, 0, EntryType.Normal, p.Data));
        _proposalIds.Add(p.RequestId);
        _proposalBytes += p.Data.Length;
        if (_proposals.Count >= MaxProposalBatch || _proposalBytes >= MaxProposalBatchBytes)
        {
            FlushProposals();
        }
    }

    /// <summary>
    /// Proposes the collected entries with one local Propose message (a leader appends them all and
    /// sends one Append per follower; a follower forwards them in one message). When the core does
    /// not take them (no leader, a leadership transfer, too many uncommitted entries), every caller
    /// of the batch learns NoLeader at once, as a single refused proposal would.
    /// </summary>
    private void FlushProposals()
    {
        if (_proposals.Count == 0)
        {
            return;
        }
        var r = _node.Step(new Message { Type = MessageType.Propose, From = MemberId, Entries = _proposals.ToArray() });
        if (r.Status != StepStatus.Ok)
        {
            foreach (var id in _proposalIds)
            {
                if (id != 0 && _waiters.TryRemove(id, out var w))
                {
                    w.Complete(ServerStatus.NoLeader, null);
                }
            }
        }
        _proposals.Clear();
        _proposalIds.Clear();
        _proposalBytes = 0;
    }

    private void OnTick()
    {
        _node.Tick();
        _ticks++;
        // A ReadIndex round whose answer never came (dropped: no leader at the time, or lost) is
        // asked again after an election timeout.
        if (_readRounds.Count > 0)
        {
            var stale = _readRounds.Where(kv => _ticks - kv.Value.IssuedTick > _options.ElectionTicks).ToList();
            foreach (var (ctx, round) in stale)
            {
                _readRounds.Remove(ctx);
                StartReadRound(round.Waiters);
            }
        }
        if (_view.Role != RaftRole.Leader)
        {
            return;
        }
        foreach (var id in _lessor.TakeExpired(_options.LeaseRevokesPerTick))
        {
            _node.Propose(CommandCodec.Encode(new LeaseRevokeCommand(id)));
        }
        var checkpointTicks = Math.Max(1, (long)(_options.LeaseCheckpointInterval.TotalMilliseconds / _options.HeartbeatIntervalMs));
        if (_ticks - _lastCheckpointTick >= checkpointTicks)
        {
            _lastCheckpointTick = _ticks;
            var checkpoints = _lessor.Checkpoints();
            if (checkpoints.Count > 0)
            {
                _node.Propose(CommandCodec.Encode(new LeaseCheckpointCommand(checkpoints)));
            }
        }
        MaybeCheckCorruption();
    }

    private void StartReadRound(List<ReadWaiter> waiters)
    {
        var ctx = ++_readCounter;
        _readRounds[ctx] = new ReadRound(waiters, _ticks, 0);
        var context = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(context, ctx);
        _node.ReadIndex(context);
    }

    /// <summary>
    /// One Ready, in the order of its contract (docs/raft.md), pipelined: the WAL writer thread
    /// persists this Ready's entries and hard state while the loop applies its committed entries
    /// (which the core only hands out once they are durable on this member, so they never depend
    /// on this Ready's write) and answers the reads they satisfy. Messages that promise durable
    /// state go out, and the core learns that the entries are durable (<see cref="RawNode.Advance"/>,
    /// which is also where a leader counts its own copy), only after the fsync. A snapshot to
    /// install is persisted and restored before anything else is applied.
    /// </summary>
    private async Task HandleReadyAsync(Ready rd)
    {
        var lead = rd.SoftState?.Lead ?? _lastLead;
        var role = rd.SoftState?.Role ?? _view.Role;
        var term = rd.HardState.IsEmpty ? _lastTerm : rd.HardState.Term;

        // 1. The leader's messages go out at once, in parallel with its own fsync.
        Send(rd.Messages);

        // 2. Persist: snapshot marker (the file itself is already durable), entries + hard state.
        //    The save is started here and awaited in step 4.
        if (!rd.Snapshot.IsEmpty)
        {
            // Our own snapshot still being written is older than the leader's: let it end unused.
            await DropSnapshotSaveAsync();
            await _wal.SaveSnapshotMarkerAsync(rd.Snapshot.Metadata.Index, rd.Snapshot.Metadata.Term);
            _storage.ApplySnapshot(new Snapshot(rd.Snapshot.Metadata, ReadOnlyMemory<byte>.Empty));
        }
        if (!rd.HardState.IsEmpty)
        {
            _unsavedHardState = rd.HardState;
        }
        var persist = ValueTask.CompletedTask;
        if (rd.Entries.Count > 0 || rd.MustSync || !rd.Snapshot.IsEmpty)
        {
            // A commit-only hard state change is not worth an fsync on its own: it rides with the
            // next save (a restart may then re-learn the commit index from the leader).
            persist = _wal.SaveAsync(_unsavedHardState, rd.Entries);
            _unsavedHardState = HardState.Empty;
        }

        // Leadership and term changes: callers whose request may be lost learn it now.
        if (term != _lastTerm)
        {
            _lastTerm = term;
            FailWaitersBefore(term);
        }
        if (lead != _lastLead)
        {
            _lastLead = lead;
            _view = _view with { Lead = lead, Term = term, Role = role };
            Interlocked.Exchange(ref _leaderSignal, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            ServerLog.LeaderChanged(_log, MemberId, lead, term, role.ToString());
            if (role == RaftRole.Leader)
            {
                _lessor.Promote(_sm.Leases);
                _lastCheckpointTick = _ticks;
            }
            else
            {
                _lessor.Demote();
            }
            // Rounds asked of the old leader may never be answered: ask the new one.
            if (_readRounds.Count > 0)
            {
                var rounds = _readRounds.Values.SelectMany(r => r.Waiters).ToList();
                _readRounds.Clear();
                _pendingReads.AddRange(rounds);
            }
        }

        // 3. Apply (while the WAL writer persists this Ready's entries), then answer the reads
        //    whose read index is now applied.
        if (!rd.Snapshot.IsEmpty)
        {
            await persist;
            persist = ValueTask.CompletedTask;
            await RestoreFromSnapshotAsync(rd.Snapshot.Metadata);
        }
        foreach (var entry in rd.CommittedEntries)
        {
            if (entry.Index <= _sm.AppliedIndex)
            {
                continue;
            }
            if (entry.Type == EntryType.ConfChange)
            {
                ApplyConfChange(entry);
            }
            else
            {
                ApplyNormal(entry);
            }
            _bytesSinceSnapshot += (ulong)entry.Data.Length;
        }
        foreach (var rs in rd.ReadStates)
        {
            if (rs.Context.Length == 8 && _readRounds.Remove(BinaryPrimitives.ReadUInt64LittleEndian(rs.Context.Span), out var round))
            {
                _readyReads.Add(round with { Index = rs.Index });
            }
        }
        CompleteReadyReads();

        // 4. Wait for the fsync, taking input meanwhile; only then the in-memory log may serve the
        //    entries to others and the messages that promise durable state may leave.
        await StepWhilePersistingAsync(persist);
        _storage.Append(rd.Entries);
        if (!rd.HardState.IsEmpty)
        {
            _storage.SetHardState(rd.HardState);
        }
        Send(rd.MessagesAfterPersist);

        // 5. Advance, then publish what other threads may read.
        _node.Advance(rd);
        var commit = rd.HardState.IsEmpty ? _view.Commit : rd.HardState.Commit;
        _view = new RaftView(lead, term, commit, _sm.AppliedIndex, role, _confState.Learners.Contains(MemberId));

        if (_snapshotSave is null && _sm.AppliedIndex > _snapshotIndex
            && (_snapshotWanted || _sm.AppliedIndex - _snapshotIndex >= _options.SnapshotCount || _bytesSinceSnapshot >= _options.SnapshotBytes))
        {
            _snapshotWanted = false;
            StartSnapshot();
        }
    }

    /// <summary>
    /// Waits for a Ready's write while the loop goes on taking input, as etcd's raft node does between
    /// Ready and Advance: peer messages, ticks, proposals and reads are stepped into the core, and the
    /// messages that need nothing durable leave at once (<see cref="RawNode.TakeMessages"/>) — a
    /// leader's appends of the next batch, a follower's forwarded proposals and reads — instead of
    /// after this fsync. What else the input produced (append responses, commits to apply) comes in
    /// the next Ready. The write's completion posts a no-op input to wake the loop.
    /// </summary>
    private async ValueTask StepWhilePersistingAsync(ValueTask persist)
    {
        if (persist.IsCompleted)
        {
            await persist;
            return;
        }
        var write = persist.AsTask();
        _ = write.ContinueWith(
            static (_, state) => ((ConclaveMember)state!).Post(NopInput.Instance),
            this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var reader = _inputs.Reader;
        while (!write.IsCompleted && await reader.WaitToReadAsync())
        {
            DrainInputs(persisting: true);
            Send(_node.TakeMessages());
        }
        await write;
    }

    /// <summary>
    /// Handles every input waiting: consecutive proposals go to the core as one batch (flushed before
    /// any other input, so arrival order is kept), and one ReadIndex round starts for the reads of
    /// the turn. While a Ready is <paramref name="persisting"/>, conf changes, transfers and invokes
    /// are held for <see cref="HandleDeferredInputs"/>: they see the core's applied index (a conf
    /// change is refused while an earlier one is unapplied) or run arbitrary code.
    /// </summary>
    private void DrainInputs(bool persisting)
    {
        var reader = _inputs.Reader;
        while (reader.TryRead(out var input))
        {
            if (input is ProposeInput p)
            {
                AddProposal(p);
                continue;
            }
            FlushProposals();
            if (persisting && input is ConfChangeInput or TransferInput or InvokeInput)
            {
                _deferredInputs.Add(input);
                continue;
            }
            Handle(input);
        }
        FlushProposals();
        if (_pendingReads.Count > 0)
        {
            StartReadRound(_pendingReads);
            _pendingReads = [];
        }
    }

    /// <summary>Handles the inputs <see cref="StepWhilePersistingAsync"/> held back, now that the Ready is advanced.</summary>
    private void HandleDeferredInputs()
    {
        if (_deferredInputs.Count == 0)
        {
            return;
        }
        foreach (var input in _deferredInputs)
        {
            Handle(input);
        }
        _deferredInputs.Clear();
    }

    private void ApplyNormal(in Entry entry)
    {
        Failpoints.Hit(Failpoint.BeforeApply);
        var result = _sm.Apply(entry);
        switch (result)
        {
            case CompactApplied { Status: ApplyStatus.Ok }:
                _watchHub.CompactionApplied();
                break;
            case LeaseGranted { Status: ApplyStatus.Ok } g:
                _lessor.OnGranted(g.LeaseId, g.TtlSeconds);
                break;
            case LeaseRevoked:
                if (CommandCodec.TryDecode(entry.Data.Span, out var cmd, out _) && cmd is LeaseRevokeCommand revoke)
                {
                    _lessor.OnRevoked(revoke.LeaseId);
                }
                break;
            case Applied when !entry.Data.IsEmpty && _lessor.IsLeader:
                if (CommandCodec.TryDecode(entry.Data.Span, out var applied, out _) && applied is LeaseCheckpointCommand checkpoint)
                {
                    _lessor.OnCheckpoint(checkpoint.Checkpoints);
                }
                break;
        }
        Failpoints.Hit(Failpoint.AfterApply);
        var requestId = PeerFrames.PeekRequestId(entry.Data.Span);
        if (requestId != 0 && _waiters.TryRemove(requestId, out var w))
        {
            w.Complete((ServerStatus)result.Status, result);
        }
    }

    private void ApplyConfChange(in Entry entry)
    {
        var cc = ConfChange.Decode(entry.Data.Span);
        _confState = _node.ApplyConfChange(cc);
        _sm.ApplyConfChange(entry, cc);
        ServerLog.ConfChanged(_log, MemberId, _confState.ToString());
        UpdatePeers();
        if (_confWaiter is { } cw && cw.Change.Changes.SequenceEqual(cc.Changes))
        {
            _confWaiter = null;
            cw.Done.TrySetResult(ServerStatus.Ok);
        }
        if (!_confState.Voters.Contains(MemberId) && !_confState.Learners.Contains(MemberId) && !_confState.VotersOutgoing.Contains(MemberId))
        {
            OnRemoved(); // member4: stop serving (ConclaveMember.Removal.cs)
        }
    }

    private void CompleteReadyReads()
    {
        if (_readyReads.Count == 0)
        {
            return;
        }
        for (var i = _readyReads.Count - 1; i >= 0; i--)
        {
            var round = _readyReads[i];
            if (round.Index <= _sm.AppliedIndex)
            {
                _readyReads.RemoveAt(i);
                foreach (var w in round.Waiters)
                {
                    w.Done.TrySetResult(ServerStatus.Ok);
                }
            }
        }
    }

    private void FailWaitersBefore(ulong term)
    {
        foreach (var (id, w) in _waiters)
        {
            if (w.Term < term && _waiters.TryRemove(id, out var removed))
            {
                removed.Complete(ServerStatus.LeaderChanged, null);
            }
        }
    }

    private void FailAllWaiters(ServerStatus status)
    {
        foreach (var id in _waiters.Keys)
        {
            if (_waiters.TryRemove(id, out var w))
            {
                w.Complete(status, null);
            }
        }
        foreach (var (_, tcs) in _peerRequests)
        {
            tcs.TrySetCanceled();
        }
        _confWaiter?.Done.TrySetResult(status);
    }

    private void Send(IReadOnlyList<Message> messages)
    {
        foreach (var m in messages)
        {
            if (m.Type == MessageType.Snapshot)
            {
                SendSnapshot(m);
                continue;
            }
            _transport.Send(m.To, PeerFrames.EncodeRaft(m));
        }
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Starts a snapshot at the applied index: the image is fixed now, on the loop (between two
    /// applies), and written to the snapshot store by a background task while the loop goes on;
    /// <see cref="FinishSnapshotAsync"/> records it once the file is durable. One at a time.
    /// </summary>
    private void StartSnapshot()
    {
        var metadata = new SnapshotMetadata(_sm.AppliedIndex, _sm.AppliedTerm, _confState);
        var image = _sm.BeginSnapshot();
        _bytesSinceSnapshot = 0;
        _snapshotSave = Task.Run(async () =>
        {
            try
            {
                await _snapshotGate.WaitAsync();
                try
                {
                    // Streamed into the file: the image is never whole in memory (at a million keys it
                    // is hundreds of MB).
                    await _snapshots.SaveAsync(metadata, async (stream, token) =>
                    {
                        await using var buffered = new BufferedStream(stream, 1 << 20);
                        image.WriteTo(buffered);
                        await buffered.FlushAsync(token);
                    });
                }
                finally
                {
                    _snapshotGate.Release();
                }
                return metadata;
            }
            finally
            {
                image.Dispose();
                Post(NopInput.Instance);
            }
        });
    }

    /// <summary>
    /// Records a written snapshot (the save has completed): the WAL gets its marker, the in-memory
    /// log is compacted behind it (keeping a catch-up tail) and the WAL before it is released. A
    /// failed save fails the loop, as a failed WAL write does.
    /// </summary>
    private async Task FinishSnapshotAsync()
    {
        var metadata = await _snapshotSave!;
        _snapshotSave = null;
        var (index, term) = (metadata.Index, metadata.Term);
        if (index <= _snapshotIndex)
        {
            return;
        }
        // The hard state goes with the marker so that the recovered commit index covers the snapshot.
        var hs = _storage.InitialState().HardState;
        await _wal.SaveAsync(hs, []);
        await _wal.SaveSnapshotMarkerAsync(index, term);
        _storage.CreateSnapshot(index, metadata.ConfState, ReadOnlyMemory<byte>.Empty);
        var compactTo = CatchUpStart(index);
        if (compactTo > _storage.FirstIndex())
        {
            _storage.Compact(compactTo - 1);
        }
        await _wal.ReleaseToAsync(index);
        Volatile.Write(ref _snapshotIndex, index);
        ServerLog.SnapshotSaved(_log, MemberId, index, term);
        Interlocked.Exchange(ref _snapshotSignal, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>
    /// Waits until this member has saved and recorded a snapshot at <paramref name="index"/> or later
    /// (its own or an installed leader's), or <paramref name="timeout"/> passes; true when it has.
    /// </summary>
    internal async Task<bool> WaitForSnapshotAsync(ulong index, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + timeout;
        while (true)
        {
            var signal = Volatile.Read(ref _snapshotSignal).Task;
            if (Volatile.Read(ref _snapshotIndex) >= index)
            {
                return true;
            }
            var left = deadline - _time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return false;
            }
            try
            {
                await signal.WaitAsync(left, _time, ct);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// The first entry to keep in memory behind a snapshot at <paramref name="index"/>: at most
    /// <see cref="ConclaveMemberOptions.SnapshotCatchUpEntries"/> entries and about
    /// <see cref="ConclaveMemberOptions.SnapshotCatchUpBytes"/> of data (a follower further behind
    /// gets the snapshot).
    /// </summary>
    private ulong CatchUpStart(ulong index)
    {
        var keep = _options.SnapshotCatchUpEntries;
        var first = index > keep ? index - keep + 1 : 1;
        first = Math.Max(first, _storage.FirstIndex());
        if (first > index)
        {
            return index + 1;
        }
        var tail = _storage.Entries(first, index + 1, ulong.MaxValue);
        ulong bytes = 0;
        for (var i = tail.Count - 1; i >= 0; i--)
        {
            bytes += (ulong)tail[i].Data.Length + 16;
            if (bytes > _options.SnapshotCatchUpBytes)
            {
                return tail[i].Index + 1;
            }
        }
        return first;
    }

    /// <summary>When the member stops: lets a snapshot save in flight end (its outcome no longer matters).</summary>
    private async Task AwaitSnapshotSaveOnStopAsync()
    {
        if (_snapshotSave is { } save)
        {
            await save.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Waits for a snapshot save in flight and forgets it (its file stays, unrecorded, and is pruned later).</summary>
    private async Task DropSnapshotSaveAsync()
    {
        if (_snapshotSave is not { } save)
        {
            return;
        }
        _snapshotSave = null;
        try
        {
            await save;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            ServerLog.SnapshotSaveFailed(_log, ex, MemberId);
        }
    }

    /// <summary>A follower installs the leader's snapshot: the file is already in the store (received by the transfer pump).</summary>
    private async Task RestoreFromSnapshotAsync(SnapshotMetadata metadata)
    {
        // The image streams from the file into a new store, swapped in only once the file's checksum
        // matched (the file was verified when it was installed, so this is a second line of defence).
        await _snapshotGate.WaitAsync();
        try
        {
            var restored = _snapshots.RestoreLatest((found, image) =>
            {
                if (found.Index != metadata.Index || found.Term != metadata.Term)
                {
                    throw new InvalidOperationException($"server: the snapshot at index {metadata.Index} (term {metadata.Term}) the core installed is not the newest file in the snapshot store (that is {found.Index}, term {found.Term})");
                }
                _sm.Restore(image);
            });
            if (restored.Metadata is null)
            {
                throw new InvalidOperationException($"server: the snapshot at index {metadata.Index} the core installed is not in the snapshot store: {string.Join("; ", restored.Skipped.Select(s => s.Reason))}");
            }
        }
        finally
        {
            _snapshotGate.Release();
        }
        _watchHub.Resync();
        _confState = metadata.ConfState;
        Volatile.Write(ref _snapshotIndex, metadata.Index);
        Interlocked.Exchange(ref _snapshotSignal, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        UpdatePeers();
        _lessor.Resync(_sm.Leases);
        ServerLog.SnapshotInstalled(_log, MemberId, metadata.Index, metadata.Term);
    }

    private void SendSnapshot(Message m)
    {
        if (!_snapshotsInFlight.Add(m.To))
        {
            return;
        }
        var cs = m.Snapshot?.Metadata.ConfState ?? ConfState.Empty;
        if (!cs.Voters.Contains(m.To) && !cs.Learners.Contains(m.To) && !cs.VotersOutgoing.Contains(m.To))
        {
            // The newest snapshot predates the member's addition, and the member would refuse it.
            // Take a fresh one after this Ready and let the core try again with it.
            _snapshotWanted = true;
            Post(new SnapshotStatusInput(m.To, true));
            return;
        }
        var index = m.Snapshot?.Metadata.Index ?? 0;
        _ = Task.Run(async () =>
        {
            var failed = true;
            var outcome = "failed";
            try
            {
                string? path;
                await _snapshotGate.WaitAsync(_stop.Token);
                try
                {
                    path = _snapshots.List().FirstOrDefault(s => s.NameOnly.Index == index).FilePath;
                }
                finally
                {
                    _snapshotGate.Release();
                }
                if (path is null)
                {
                    outcome = "no such snapshot file";
                    return;
                }
                var header = MessageCodec.Encode(m with { Snapshot = m.Snapshot! with { Data = ReadOnlyMemory<byte>.Empty } });
                // Length-prefixed header, then the file streamed from disk (never whole in memory).
                var prefix = new byte[4 + header.Length];
                BinaryPrimitives.WriteInt32LittleEndian(prefix, header.Length);
                header.CopyTo(prefix.AsSpan(4));
                await using var content = new PrefixedReadStream(prefix, new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan));
                var r = await _transport.SendTransferAsync(m.To, Failpoints.OnSnapshotSend(content), _stop.Token);
                failed = r.Status != TransferStatus.Delivered;
                outcome = r.Status.ToString();
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or UnauthorizedAccessException)
            {
                outcome = ex.Message;
            }
            finally
            {
                ServerLog.SnapshotSent(_log, MemberId, index, m.To, outcome);
                Post(new SnapshotStatusInput(m.To, failed));
            }
        });
    }

    // ---------------------------------------------------------------- types

    private abstract record Input;

    private sealed record TickInput : Input
    {
        public static TickInput Instance { get; } = new();
    }

    private sealed record NopInput : Input
    {
        public static NopInput Instance { get; } = new();
    }

    private sealed record StepInput(Message Message) : Input;

    private sealed record ProposeInput(ulong RequestId, byte[] Data) : Input;

    private sealed record ReadInput(ReadWaiter Waiter) : Input;

    private sealed record ConfChangeInput(ConfChange Change, TaskCompletionSource<ServerStatus> Done) : Input;

    private sealed record TransferInput(ulong Target) : Input;

    private sealed record UnreachableInput(ulong Peer) : Input;

    private sealed record SnapshotStatusInput(ulong Peer, bool Failed) : Input;

    /// <summary>Runs on the loop, between two inputs: the only place that may touch the RawNode or run a read-only txn.</summary>
    private sealed record InvokeInput(Action Run) : Input;

    private sealed record ReadRound(List<ReadWaiter> Waiters, long IssuedTick, ulong Index);

    private sealed class ReadWaiter
    {
        public TaskCompletionSource<ServerStatus> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
