using Conclave.Storage.Mvcc;

namespace Conclave.Server.Watch;

/// <summary>The catch-up loop: feeds unsynced watchers from history and returns them to the synced group.</summary>
public sealed partial class WatchHub
{
    private async Task RunCatchUpAsync(CancellationToken ct)
    {
        try
        {
            while (true)
            {
                // Woken when a watcher becomes unsynced or a blocked stream's reader frees room. A wake that
                // arrives during a turn stays in the one-slot channel and causes another turn.
                await _wake.Reader.ReadAsync(ct).ConfigureAwait(false);
                while (CatchUpTurn())
                {
                    ct.ThrowIfCancellationRequested();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // A bug: fail every stream rather than leave its watchers silently stalled; DisposeAsync rethrows.
            lock (_gate)
            {
                _stopped = true;
                foreach (var stream in _streams)
                {
                    CloseLocked(stream);
                    stream.Fail(ex);
                }
                _streams.Clear();
            }
            throw;
        }
    }

    /// <summary>
    /// One chunk for every unsynced watcher whose stream has room. Returns true when some watcher advanced and
    /// still has history to read; watchers of full streams wait for their reader's wake instead.
    /// </summary>
    internal bool CatchUpTurn()
    {
        Watcher[] work;
        lock (_gate)
        {
            if (_stopped || _unsynced.Count == 0)
            {
                return false;
            }
            work = [.. _unsynced];
        }
        // Read outside the hub lock: the store's lock must never be awaited while holding ours.
        var compact = _store.CompactRevision;
        var more = false;
        foreach (var w in work)
        {
            long from;
            lock (_gate)
            {
                if (_stopped)
                {
                    return false;
                }
                if (w.State != WatcherState.Unsynced)
                {
                    continue;
                }
                if (w.NextRevision < compact)
                {
                    CancelCompactedLocked(w, compact);
                    continue;
                }
                if (!w.Stream.HasCatchUpRoom && !w.Stream.ArmCatchUpWake())
                {
                    continue;
                }
                from = w.NextRevision;
            }

            var r = _store.EventsSince(from, w.Key, w.RangeEnd, _options.CatchUpChunkEvents);

            lock (_gate)
            {
                if (w.State != WatcherState.Unsynced || w.NextRevision != from)
                {
                    continue;
                }
                if (r.Status == MvccStatus.Compacted)
                {
                    CancelCompactedLocked(w, r.CompactRevision);
                    continue;
                }
                if (r.Status != MvccStatus.Ok)
                {
                    throw new InvalidOperationException($"watch: history read from {from} failed with {r.Status}");
                }
                // Cut at L: revisions above it come through OnCommit once the watcher is synced.
                var upTo = Math.Min(r.NextRevision, _lastRevision + 1);
                List<Event>? events = null;
                foreach (var ev in r.Events)
                {
                    if (ev.Kv.ModRevision >= upTo)
                    {
                        break;
                    }
                    var projected = w.Project(ev);
                    if (projected is not null)
                    {
                        (events ??= []).Add(projected);
                    }
                }
                if (events is not null)
                {
                    w.Stream.EnqueueEvents(w, upTo - 1, events, _options);
                    w.SentSinceTick = true;
                }
                w.NextRevision = upTo;
                if (upTo > _lastRevision)
                {
                    _unsynced.Remove(w);
                    w.State = WatcherState.Synced;
                    _synced.Add(w);
                    if (w.Stream.ProgressRequested)
                    {
                        TryAnswerProgressLocked(w.Stream);
                    }
                }
                else
                {
                    more = true;
                }
            }
        }
        return more;
    }

    /// <summary>The history the watcher needs next is gone: cancel it with the compaction revision (etcd's behaviour).</summary>
    private void CancelCompactedLocked(Watcher w, long compactRevision)
    {
        LeaveGroupLocked(w);
        w.Stream.Watchers.Remove(w.Id);
        w.Stream.Enqueue(new WatchResponse
        {
            WatchId = w.Id,
            Revision = _lastRevision,
            Canceled = true,
            CompactRevision = compactRevision,
        });
        if (w.Stream.ProgressRequested)
        {
            TryAnswerProgressLocked(w.Stream);
        }
    }
}
