using Conclave.Server.StateMachine;

namespace Conclave.Server.Leases;

/// <summary>
/// The leader's clocks for leases. Only the leader keeps expiry deadlines (on the injected
/// <see cref="TimeProvider"/>); followers keep none and the replicated part of a lease (granted TTL,
/// last checkpointed remaining TTL) lives in <see cref="KvStateMachine"/>. Expiry is never applied
/// here: the driver proposes a revoke for what <see cref="TakeExpired"/> returns, so every member
/// deletes the same keys at the same revision.
/// <para>When a member becomes leader (<see cref="Promote"/>) each lease's countdown restarts from its
/// checkpointed remaining TTL (the full TTL if never checkpointed) plus a grace of one election
/// timeout — not from the full TTL, so a flapping leader cannot keep a dead lease alive forever.</para>
/// Thread-safe: the driver loop and API callers (keep-alive) share it under one lock.
/// </summary>
public sealed class Lessor
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _grace;
    private readonly Dictionary<long, DateTimeOffset> _deadlines = [];

    // Leases a revoke was proposed for, and when: not proposed again before the retry time.
    private readonly Dictionary<long, DateTimeOffset> _revoking = [];
    private readonly TimeSpan _revokeRetry;
    private bool _isLeader;

    public Lessor(TimeProvider time, TimeSpan grace, TimeSpan revokeRetry)
    {
        _time = time;
        _grace = grace;
        _revokeRetry = revokeRetry;
    }

    public bool IsLeader
    {
        get
        {
            lock (_lock)
            {
                return _isLeader;
            }
        }
    }

    /// <summary>This member became leader: start every lease's countdown from its checkpointed remaining TTL + grace.</summary>
    public void Promote(IReadOnlyDictionary<long, Lease> leases)
    {
        lock (_lock)
        {
            _isLeader = true;
            _deadlines.Clear();
            _revoking.Clear();
            var now = _time.GetUtcNow();
            foreach (var lease in leases.Values)
            {
                _deadlines[lease.Id] = now + TimeSpan.FromSeconds(lease.EffectiveRemainingSeconds) + _grace;
            }
        }
    }

    /// <summary>This member is no longer leader: forget every deadline.</summary>
    public void Demote()
    {
        lock (_lock)
        {
            _isLeader = false;
            _deadlines.Clear();
            _revoking.Clear();
        }
    }

    /// <summary>After a snapshot was installed: leases may have appeared or gone.</summary>
    public void Resync(IReadOnlyDictionary<long, Lease> leases)
    {
        lock (_lock)
        {
            if (!_isLeader)
            {
                return;
            }
            var now = _time.GetUtcNow();
            foreach (var id in _deadlines.Keys.Where(id => !leases.ContainsKey(id)).ToList())
            {
                _deadlines.Remove(id);
            }
            foreach (var lease in leases.Values)
            {
                _deadlines.TryAdd(lease.Id, now + TimeSpan.FromSeconds(lease.EffectiveRemainingSeconds) + _grace);
            }
        }
    }

    /// <summary>A grant was applied: on the leader the lease lives for its full TTL from now.</summary>
    public void OnGranted(long id, long ttlSeconds)
    {
        lock (_lock)
        {
            if (_isLeader)
            {
                _deadlines[id] = _time.GetUtcNow() + TimeSpan.FromSeconds(ttlSeconds);
            }
        }
    }

    /// <summary>A checkpoint was applied: on the leader a lease whose checkpoint says less time is left than its deadline gives ends that much from now.</summary>
    public void OnCheckpoint(IReadOnlyList<LeaseCheckpoint> checkpoints)
    {
        lock (_lock)
        {
            if (!_isLeader)
            {
                return;
            }
            var now = _time.GetUtcNow();
            foreach (var cp in checkpoints)
            {
                // Only ever earlier: this leader's own checkpoints are rounded up and must not extend a lease.
                var deadline = now + TimeSpan.FromSeconds(cp.RemainingTtlSeconds);
                if (_deadlines.TryGetValue(cp.LeaseId, out var current) && cp.RemainingTtlSeconds > 0 && deadline < current)
                {
                    _deadlines[cp.LeaseId] = deadline;
                }
            }
        }
    }

    public void OnRevoked(long id)
    {
        lock (_lock)
        {
            _deadlines.Remove(id);
            _revoking.Remove(id);
        }
    }

    /// <summary>Keep-alive on the leader: the lease lives for its full TTL from now. False when this member is not leader (the caller checked that the lease exists).</summary>
    public bool Renew(long id, long ttlSeconds)
    {
        lock (_lock)
        {
            if (!_isLeader)
            {
                return false;
            }
            _deadlines[id] = _time.GetUtcNow() + TimeSpan.FromSeconds(ttlSeconds);
            _revoking.Remove(id);
            return true;
        }
    }

    /// <summary>Seconds left (rounded up; 0 when expired), or null when this member keeps no clock for the lease.</summary>
    public long? RemainingSeconds(long id)
    {
        lock (_lock)
        {
            if (!_isLeader || !_deadlines.TryGetValue(id, out var deadline))
            {
                return null;
            }
            var left = deadline - _time.GetUtcNow();
            return left <= TimeSpan.Zero ? 0 : (long)Math.Ceiling(left.TotalSeconds);
        }
    }

    /// <summary>Up to <paramref name="max"/> expired leases that have no revoke in flight; they are marked as being revoked.</summary>
    public IReadOnlyList<long> TakeExpired(int max)
    {
        lock (_lock)
        {
            if (!_isLeader)
            {
                return [];
            }
            var now = _time.GetUtcNow();
            var expired = new List<long>();
            foreach (var (id, deadline) in _deadlines)
            {
                if (expired.Count >= max)
                {
                    break;
                }
                if (deadline <= now && (!_revoking.TryGetValue(id, out var retry) || retry <= now))
                {
                    expired.Add(id);
                }
            }
            foreach (var id in expired)
            {
                _revoking[id] = now + _revokeRetry;
            }
            return expired;
        }
    }

    /// <summary>Remaining TTL of every lease the leader tracks, for a checkpoint command (whole seconds, at least 1 while alive).</summary>
    public IReadOnlyList<LeaseCheckpoint> Checkpoints()
    {
        lock (_lock)
        {
            if (!_isLeader)
            {
                return [];
            }
            var now = _time.GetUtcNow();
            return _deadlines
                .Where(d => d.Value > now)
                .OrderBy(d => d.Key)
                .Select(d => new LeaseCheckpoint(d.Key, Math.Max(1, (long)Math.Ceiling((d.Value - now).TotalSeconds))))
                .ToList();
        }
    }
}
