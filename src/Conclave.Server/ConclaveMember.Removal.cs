using Conclave.Server.Api;

namespace Conclave.Server;

/// <summary>
/// What a member does once it applied a configuration change that removes it (etcd: the apply loop
/// reports "the member has been permanently removed from the cluster" and the server stops after
/// 10 × 100 ms, server/etcdserver/server.go). From that moment every new request is refused with
/// <see cref="ServerStatus.Removed"/>; after <see cref="RemovalGraceTicks"/> heartbeat intervals (time
/// for its last messages, e.g. the commit of its own removal, to reach the others) the raft loop
/// stops, every waiting request gets Removed, and <see cref="Completion"/> completes without error.
/// <see cref="IsRemoved"/> tells a host why (`conclave serve` then exits, as etcd does).
/// </summary>
public sealed partial class ConclaveMember
{
    /// <summary>Heartbeat intervals between applying the removal and stopping the loop (etcd waits 1 s = 10 of its 100 ms ticks).</summary>
    internal const int RemovalGraceTicks = 10;

    private volatile bool _removed;

    /// <summary>True once this member applied its own removal from the cluster; it no longer serves and its data dir is of no further use.</summary>
    public bool IsRemoved => _removed;

    /// <summary>Called on the loop when an applied configuration no longer names this member.</summary>
    private void OnRemoved()
    {
        if (_removed)
        {
            return;
        }
        _removed = true;
        ServerLog.Removed(_log, MemberId);
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(RemovalGraceTicks * _options.HeartbeatIntervalMs), _time, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            // On the loop: fail what waits there (reads), then let the loop end after this input.
            Post(new InvokeInput(() =>
            {
                _inputs.Writer.TryComplete();
                FailAllWaiters(ServerStatus.Removed);
                FailPendingReads(ServerStatus.Removed);
                ServerLog.StoppedAfterRemoval(_log, MemberId);
            }));
        });
    }

    /// <summary>Fails every linearizable read waiting on the loop (only the loop may call it).</summary>
    private void FailPendingReads(ServerStatus status)
    {
        foreach (var w in _pendingReads.Concat(_readRounds.Values.SelectMany(r => r.Waiters)).Concat(_readyReads.SelectMany(r => r.Waiters)))
        {
            w.Done.TrySetResult(status);
        }
        _pendingReads = [];
        _readRounds.Clear();
        _readyReads.Clear();
    }

    /// <summary>
    /// What a caller hears when the core refuses its proposal: Removed after this member's removal;
    /// TooManyRequests when the leader dropped it (too much uncommitted, a leadership transfer in progress:
    /// retry later); NoLeader when none is known.
    /// </summary>
    private ServerStatus RefusedProposalStatus(Raft.ProposeResult r) =>
        _removed ? ServerStatus.Removed : r.Status == Raft.ProposeStatus.Dropped ? ServerStatus.TooManyRequests : ServerStatus.NoLeader;

    /// <summary>Removed once this member applied its removal, Stopped once it is disposed, else null: why a new request is refused.</summary>
    private ServerStatus? Refusal => _removed ? ServerStatus.Removed : _stopped ? ServerStatus.Stopped : null;

    /// <summary>The refusal for a request that reads this member's applied state without the loop (a serializable read); null = go ahead.</summary>
    internal ServerStatus? LocalReadRefusal => Refusal;
}
