using System.Buffers.Binary;
using Conclave.Raft;
using Conclave.Server.Api;
using Conclave.Server.Metrics;
using Conclave.Server.StateMachine;
using Conclave.Server.Transport;

namespace Conclave.Server;

public sealed partial class ConclaveMember
{
    /// <summary>
    /// Proposes a command and waits until THIS member applied it (every member applies every entry,
    /// so a follower's proposal, forwarded to the leader by the core, is answered here). Fails fast
    /// with NoLeader when no leader is known; Timeout after the request timeout (the outcome is then
    /// unknown); LeaderChanged when the term changed before the entry was applied.
    /// </summary>
    internal async Task<(ServerStatus Status, ApplyResult? Result)> ProposeAsync(Command command, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        if (Refusal is { } refused)
        {
            return (refused, null);
        }
        var view = _view;
        if (view.Lead == 0)
        {
            return (ServerStatus.NoLeader, null);
        }
        var id = _requestIdPrefix | ((ulong)Interlocked.Increment(ref _requestCounter) & 0xFFFF_FFFF_FFFF);
        var data = CommandCodec.Encode(command, id);
        if (data.Length > _options.MaxRequestBytes)
        {
            return (ServerStatus.RequestTooLarge, null);
        }
        var waiter = new ProposalWaiter(this, view.Term, started);
        _waiters[id] = waiter;
        Post(new ProposeInput(id, data));
        try
        {
            var answer = await waiter.Task.WaitAsync(_requestTimeout, _time, ct);
            if (answer.Result is not null)
            {
                _metrics.ProposalAnswered.Observe(_time.GetElapsedTime(started));
            }
            return answer;
        }
        catch (TimeoutException)
        {
            _waiters.TryRemove(id, out _);
            return (ServerStatus.Timeout, null);
        }
        catch (OperationCanceledException)
        {
            _waiters.TryRemove(id, out _);
            throw;
        }
    }

    /// <summary>
    /// Waits until this member's applied state is at least as new as the leader's commit index at
    /// the time of the call (ReadIndex; every read that arrives in one loop turn shares one round).
    /// </summary>
    internal async Task<ServerStatus> ReadIndexAsync(CancellationToken ct)
    {
        if (Refusal is { } refused)
        {
            return refused;
        }
        if (_view.Lead == 0)
        {
            return ServerStatus.NoLeader;
        }
        var waiter = new ReadWaiter();
        Post(new ReadInput(waiter));
        try
        {
            return await waiter.Done.Task.WaitAsync(_requestTimeout, _time, ct);
        }
        catch (TimeoutException)
        {
            return ServerStatus.Timeout;
        }
    }

    /// <summary>Runs <paramref name="func"/> on the loop (between two inputs) and returns its value.</summary>
    internal Task<T> InvokeAsync<T>(Func<T> func)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Refusal is not null)
        {
            tcs.SetException(new ObjectDisposedException(nameof(ConclaveMember)));
            return tcs.Task;
        }
        var posted = _inputs.Writer.TryWrite(new InvokeInput(() =>
        {
            try
            {
                tcs.TrySetResult(func());
            }
            catch (Exception ex)
            {
                tcs.TrySetException(ex);
            }
        }));
        if (!posted)
        {
            // The loop has ended (disposed, or stopped after this member's removal).
            tcs.TrySetException(new ObjectDisposedException(nameof(ConclaveMember)));
        }
        return tcs.Task;
    }

    internal async Task<ServerStatus> ProposeConfChangeAsync(ConfChange change, CancellationToken ct)
    {
        if (Refusal is { } refused)
        {
            return refused;
        }
        if (_view.Lead == 0)
        {
            return ServerStatus.NoLeader;
        }
        var done = new TaskCompletionSource<ServerStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(new ConfChangeInput(change, done));
        try
        {
            return await done.Task.WaitAsync(_requestTimeout, _time, ct);
        }
        catch (TimeoutException)
        {
            await InvokeAsync(() =>
            {
                if (_confWaiter is { } cw && ReferenceEquals(cw.Done, done))
                {
                    _confWaiter = null;
                }
                return true;
            });
            return ServerStatus.Timeout;
        }
    }

    /// <summary>
    /// Waits until this member sees <paramref name="leader"/> as leader (0 = any leader) or the
    /// request timeout passes; true when it does.
    /// </summary>
    public async Task<bool> WaitForLeaderAsync(ulong leader, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + _requestTimeout;
        while (true)
        {
            var signal = Volatile.Read(ref _leaderSignal).Task;
            var lead = _view.Lead;
            if (leader == 0 ? lead != 0 : lead == leader)
            {
                return true;
            }
            var left = deadline - _time.GetUtcNow();
            if (left <= TimeSpan.Zero || Refusal is not null)
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

    /// <summary>WAL syncs so far (one per group-commit batch).</summary>
    internal long WalSyncCount => _wal.SyncCount;

    internal void RequestLeaderTransfer(ulong target) => Post(new TransferInput(target));

    /// <summary>The raft status (progress of every member on the leader), taken on the loop.</summary>
    internal Task<RaftStatus> RaftStatusAsync() => InvokeAsync(_node.Status);

    internal ulong NextLeaseId()
    {
        while (true)
        {
            // A deterministic sequence per member (splitmix64 of member id + counter), positive, and
            // not a lease that exists; a collision with a grant in flight fails that grant with LeaseExists.
            var x = MemberId + (0x9E3779B97F4A7C15UL * (ulong)Interlocked.Increment(ref _leaseIdCounter)) + (ulong)_options.RandomSeed;
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
            x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
            x ^= x >> 31;
            var id = (long)(x & long.MaxValue);
            if (id != 0 && !_sm.Leases.ContainsKey(id))
            {
                return (ulong)id;
            }
        }
    }

    /// <summary>Sends a non-raft request frame to <paramref name="to"/> and waits for the answer frame with the same request id.</summary>
    internal async Task<byte[]?> PeerRequestAsync(ulong to, Func<ulong, byte[]> encode, CancellationToken ct)
    {
        var id = _requestIdPrefix | ((ulong)Interlocked.Increment(ref _requestCounter) & 0xFFFF_FFFF_FFFF);
        var tcs = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _peerRequests[id] = tcs;
        try
        {
            if (_transport.Send(to, encode(id)) != SendResult.Queued)
            {
                return null;
            }
            return await tcs.Task.WaitAsync(_requestTimeout, _time, ct);
        }
        catch (TimeoutException)
        {
            return null;
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
        finally
        {
            _peerRequests.TryRemove(id, out _);
        }
    }

    // ---------------------------------------------------------------- pumps

    private async Task InboundPumpAsync()
    {
        var reader = _transport.Inbound;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                while (reader.TryRead(out var frame))
                {
                    HandleFrame(frame);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void HandleFrame(InboundFrame frame)
    {
        var span = frame.Payload.Span;
        if (span.IsEmpty)
        {
            ServerLog.BadFrame(_log, MemberId, frame.From, "empty frame");
            return;
        }
        switch (span[0])
        {
            case PeerFrames.Raft:
                if (MessageCodec.TryDecode(span[1..], out var m, out var error))
                {
                    Post(new StepInput(m!));
                }
                else
                {
                    ServerLog.BadFrame(_log, MemberId, frame.From, error ?? "bad raft message");
                }
                break;
            case PeerFrames.LeaseRequest:
                if (PeerFrames.TryDecodeLeaseRequest(span, out var rid, out var op, out var leaseId))
                {
                    var from = frame.From;
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            var (status, granted, remaining) = await AnswerLeaseRequestAsync(op, leaseId, _stop.Token);
                            _transport.Send(from, PeerFrames.EncodeLeaseResponse(rid, status, granted, remaining));
                        }
                        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
                        {
                        }
                    });
                }
                break;
            case PeerFrames.HashRequest:
                if (PeerFrames.TryDecodeHashRequest(span, out var hid, out var revision))
                {
                    var h = _sm.Store.HashKV(revision);
                    var ok = h.Status == Storage.Mvcc.MvccStatus.Ok;
                    _transport.Send(frame.From, PeerFrames.EncodeHashResponse(hid, ok ? PeerFrames.StatusOk : PeerFrames.StatusNotFound, h.Hash, h.CompactRevision));
                }
                break;
            case PeerFrames.PromoteRequest:
                if (PeerFrames.TryDecodePromoteRequest(span, out var pid, out var learner))
                {
                    var from = frame.From;
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            var status = await Services.ClusterService.PromoteOnLeaderAsync(this, learner, _stop.Token);
                            _transport.Send(from, PeerFrames.EncodePromoteResponse(pid, (byte)status));
                        }
                        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
                        {
                        }
                    });
                }
                break;
            case PeerFrames.MemberChangeRequest:
                if (PeerFrames.TryDecodeMemberChangeRequest(span, out var cid, out var changeOp, out var target))
                {
                    var from = frame.From;
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            var status = await Services.ClusterService.ChangeOnLeaderAsync(this, changeOp, target!, _stop.Token);
                            _transport.Send(from, PeerFrames.EncodeMemberChangeResponse(cid, (byte)status));
                        }
                        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
                        {
                        }
                    });
                }
                else
                {
                    ServerLog.BadFrame(_log, MemberId, frame.From, "bad member change request");
                }
                break;
            case PeerFrames.LeaseResponse:
            case PeerFrames.HashResponse:
            case PeerFrames.PromoteResponse:
            case PeerFrames.MemberChangeResponse:
                if (span.Length >= 9 && _peerRequests.TryRemove(BinaryPrimitives.ReadUInt64LittleEndian(span[1..]), out var tcs))
                {
                    tcs.TrySetResult(frame.Payload.ToArray());
                }
                break;
            default:
                ServerLog.BadFrame(_log, MemberId, frame.From, $"unknown frame kind {span[0]}");
                break;
        }
    }

    /// <summary>
    /// Keep-alive / time-to-live on the leader (its own or forwarded by a follower). A lease this
    /// member does not know may be a grant it has not applied yet (a new leader applies the old
    /// term's entries after winning): it checks again after a ReadIndex before answering not found.
    /// </summary>
    internal async Task<(byte Status, long Granted, long Remaining)> AnswerLeaseRequestAsync(byte op, long leaseId, CancellationToken ct)
    {
        var answer = AnswerLeaseRequest(op, leaseId);
        if (answer.Status == PeerFrames.StatusNotFound && await ReadIndexAsync(ct) == ServerStatus.Ok)
        {
            answer = AnswerLeaseRequest(op, leaseId);
        }
        return answer;
    }

    private (byte Status, long Granted, long Remaining) AnswerLeaseRequest(byte op, long leaseId)
    {
        if (!_lessor.IsLeader)
        {
            return (PeerFrames.StatusNotLeader, 0, 0);
        }
        if (!_sm.Leases.TryGetValue(leaseId, out var lease))
        {
            return (PeerFrames.StatusNotFound, 0, 0);
        }
        if (op == PeerFrames.OpKeepAlive)
        {
            return _lessor.Renew(lease.Id, lease.TtlSeconds) ? (PeerFrames.StatusOk, lease.TtlSeconds, lease.TtlSeconds) : (PeerFrames.StatusNotLeader, 0, 0);
        }
        var remaining = _lessor.RemainingSeconds(lease.Id);
        return remaining is null ? (PeerFrames.StatusNotLeader, 0, 0) : (PeerFrames.StatusOk, lease.TtlSeconds, remaining.Value);
    }

    private async Task TransferPumpAsync()
    {
        var reader = _transport.InboundTransfers;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                while (reader.TryRead(out var transfer))
                {
                    await using (transfer)
                    {
                        await ReceiveSnapshotAsync(transfer);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ReceiveSnapshotAsync(InboundTransfer transfer)
    {
        try
        {
            var prefix = new byte[4];
            await transfer.Content.ReadExactlyAsync(prefix, _stop.Token);
            var length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
            if (length <= 0 || length > 1 << 20)
            {
                throw new InvalidDataException($"snapshot transfer: message length {length} out of range");
            }
            var header = new byte[length];
            await transfer.Content.ReadExactlyAsync(header, _stop.Token);
            if (!MessageCodec.TryDecode(header, out var m, out var error) || m!.Type != MessageType.Snapshot || m.Snapshot is null)
            {
                throw new InvalidDataException($"snapshot transfer: bad message ({error ?? "not a snapshot message"})");
            }
            SnapshotMetadata metadata;
            await _snapshotGate.WaitAsync(_stop.Token);
            try
            {
                metadata = await _snapshots.InstallAsync(ReadChunks(transfer.Content, _stop.Token), _stop.Token);
            }
            finally
            {
                _snapshotGate.Release();
            }
            Failpoints.Hit(Failpoint.SnapshotInstall);
            Post(new StepInput(m with { Snapshot = new Snapshot(metadata, ReadOnlyMemory<byte>.Empty) }));
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or Storage.Snapshots.SnapshotCorruptException)
        {
            ServerLog.SnapshotReceiveFailed(_log, ex, MemberId, transfer.From);
        }
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadChunks(Stream stream, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            var buffer = new byte[1 << 20];
            var n = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
            if (n == 0)
            {
                yield break;
            }
            Failpoints.Hit(Failpoint.SnapshotReceive);
            yield return buffer.AsMemory(0, n);
            if (n < buffer.Length)
            {
                yield break;
            }
        }
    }

    private async Task StatusPumpAsync()
    {
        var reader = _transport.Status;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                while (reader.TryRead(out var status))
                {
                    if (status.State == PeerState.Unreachable)
                    {
                        Post(new UnreachableInput(status.Peer));
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    // ---------------------------------------------------------------- corruption check

    private long _lastCorruptCheckTick;

    /// <summary>
    /// On the leader, every <see cref="ConclaveMemberOptions.CorruptCheckInterval"/>: ask each
    /// follower for HashKV at this member's current revision and raise CORRUPT when one differs.
    /// A follower not yet at that revision answers FutureRevision and is skipped this round.
    /// </summary>
    private void MaybeCheckCorruption()
    {
        if (_options.CorruptCheckInterval <= TimeSpan.Zero)
        {
            return;
        }
        var ticks = Math.Max(1, (long)(_options.CorruptCheckInterval.TotalMilliseconds / _options.HeartbeatIntervalMs));
        if (_ticks - _lastCorruptCheckTick < ticks)
        {
            return;
        }
        _lastCorruptCheckTick = _ticks;
        var revision = _sm.Store.CurrentRevision;
        var mine = _sm.Store.HashKV(revision);
        if (mine.Status != Storage.Mvcc.MvccStatus.Ok)
        {
            return;
        }
        var peers = _confState.Voters.Concat(_confState.Learners).Where(id => id != MemberId).ToList();
        _ = Task.Run(async () =>
        {
            foreach (var peer in peers)
            {
                var answer = await PeerRequestAsync(peer, id => PeerFrames.EncodeHashRequest(id, revision), _stop.Token);
                if (answer is not null
                    && PeerFrames.TryDecodeHashResponse(answer, out _, out var status, out var hash, out var compact)
                    && status == PeerFrames.StatusOk && compact == mine.CompactRevision && hash != mine.Hash)
                {
                    ServerLog.CorruptionDetected(_log, MemberId, revision, peer, mine.Hash, hash);
                    try
                    {
                        await ProposeAsync(new AlarmCommand(AlarmAction.Activate, peer, AlarmType.Corrupt), _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        });
    }

    /// <summary>
    /// A caller waiting for its proposal to be applied on this member; <see cref="Term"/> is the term
    /// when it proposed, <see cref="Started"/> the member clock's timestamp when ProposeAsync was
    /// entered. It is its own completion source (one object per proposal instead of two).
    /// <see cref="Complete"/> runs on the member loop; when it carries an apply result it records
    /// the "applied" stage of <see cref="MemberMetrics.ProposalApplied"/>. Continuations always run
    /// asynchronously, off the loop.
    /// </summary>
    private sealed class ProposalWaiter(ConclaveMember member, ulong term, long started)
        : TaskCompletionSource<(ServerStatus Status, ApplyResult? Result)>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public ulong Term { get; } = term;

        public long Started { get; } = started;

        /// <summary><paramref name="result"/> is null when the proposal failed before it was applied here (no leader, term changed, stopped).</summary>
        public void Complete(ServerStatus status, ApplyResult? result)
        {
            if (result is not null)
            {
                member._metrics.ProposalApplied.Observe(member._time.GetElapsedTime(Started));
            }
            TrySetResult((status, result));
        }
    }
}
