namespace Conclave.Server.Watch;

/// <summary>The stream-facing half of the hub: creating and canceling watchers, progress, closing.</summary>
public sealed partial class WatchHub
{
    private static readonly byte[] ZeroKey = [0];

    internal WatchCreateResult Create(WatchStream stream, WatchCreateRequest request)
    {
        var key = request.Key.IsEmpty ? ZeroKey : request.Key.ToArray();
        var rangeEnd = request.RangeEnd.ToArray();
        var status = WatchCreateStatus.Ok;
        var unbounded = rangeEnd.Length == 1 && rangeEnd[0] == 0;
        if (rangeEnd.Length > 0 && !unbounded && key.AsSpan().SequenceCompareTo(rangeEnd) >= 0)
        {
            status = WatchCreateStatus.EmptyRange;
        }
        var wake = false;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(stream.Closed, stream);
            var id = request.WatchId;
            if (status == WatchCreateStatus.Ok)
            {
                if (id == 0)
                {
                    id = stream.NextAutoId;
                    while (stream.Watchers.ContainsKey(id))
                    {
                        id++;
                    }
                    stream.NextAutoId = id + 1;
                }
                else if (stream.Watchers.ContainsKey(id))
                {
                    status = WatchCreateStatus.DuplicateWatchId;
                }
            }
            if (status != WatchCreateStatus.Ok)
            {
                stream.Enqueue(new WatchResponse
                {
                    WatchId = WatchResponse.StreamWatchId,
                    Revision = _lastRevision,
                    Created = true,
                    Canceled = true,
                    CancelReason = status.Message(),
                });
                return new WatchCreateResult(status, WatchResponse.StreamWatchId);
            }

            var start = request.StartRevision <= 0 ? _lastRevision + 1 : request.StartRevision;
            var w = new Watcher(stream, id, key, rangeEnd, request, start);
            stream.Watchers.Add(id, w);
            // Queued before the watcher joins a group, so it precedes every event of the watcher.
            stream.Enqueue(new WatchResponse { WatchId = id, Revision = _lastRevision, Created = true });
            if (start > _lastRevision)
            {
                w.State = WatcherState.Synced;
                _synced.Add(w);
            }
            else
            {
                w.State = WatcherState.Unsynced;
                _unsynced.Add(w);
                wake = true;
            }
            if (w.ProgressNotify && stream.ProgressTimer is null)
            {
                stream.ProgressTimer = _time.CreateTimer(
                    static state =>
                    {
                        var (hub, s) = ((WatchHub, WatchStream))state!;
                        hub.OnProgressTick(s);
                    },
                    (this, stream),
                    _options.ProgressInterval,
                    _options.ProgressInterval);
            }
            if (stream.ProgressRequested)
            {
                TryAnswerProgressLocked(stream);
            }
            if (wake)
            {
                WakeCatchUp();
            }
            return new WatchCreateResult(WatchCreateStatus.Ok, id);
        }
    }

    internal bool Cancel(WatchStream stream, long watchId)
    {
        lock (_gate)
        {
            if (stream.Closed || !stream.Watchers.Remove(watchId, out var w))
            {
                return false;
            }
            LeaveGroupLocked(w);
            stream.Enqueue(new WatchResponse { WatchId = watchId, Revision = _lastRevision, Canceled = true });
            if (stream.ProgressRequested)
            {
                TryAnswerProgressLocked(stream);
            }
            return true;
        }
    }

    internal void RequestProgress(WatchStream stream)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(stream.Closed, stream);
            stream.ProgressRequested = true;
            _progressWaiting.Add(stream);
            TryAnswerProgressLocked(stream);
        }
    }

    internal void Close(WatchStream stream)
    {
        lock (_gate)
        {
            if (stream.Closed)
            {
                return;
            }
            CloseLocked(stream);
            _streams.Remove(stream);
        }
        stream.Complete(drop: true);
    }

    private void CloseLocked(WatchStream stream)
    {
        stream.Closed = true;
        foreach (var w in stream.Watchers.Values)
        {
            LeaveGroupLocked(w);
        }
        stream.Watchers.Clear();
        stream.ProgressRequested = false;
        _progressWaiting.Remove(stream);
        stream.ProgressTimer?.Dispose();
        stream.ProgressTimer = null;
    }

    private void LeaveGroupLocked(Watcher w)
    {
        switch (w.State)
        {
            case WatcherState.Synced:
                _synced.Remove(w);
                break;
            case WatcherState.Unsynced:
                _unsynced.Remove(w);
                break;
            case WatcherState.Canceled:
                break;
        }
        w.State = WatcherState.Canceled;
    }

    /// <summary>
    /// A watcher can be told "you have everything up to L" only when it is synced and does not start above L + 1
    /// (etcd also withholds progress below a watcher's start revision).
    /// </summary>
    private bool IsProgressableLocked(Watcher w) => w.State == WatcherState.Synced && w.NextRevision <= _lastRevision + 1;

    private void TryAnswerProgressLocked(WatchStream stream)
    {
        if (stream.ProgressRequested)
        {
            foreach (var w in stream.Watchers.Values)
            {
                if (!IsProgressableLocked(w))
                {
                    return;
                }
            }
            stream.ProgressRequested = false;
            if (stream.Watchers.Count > 0)
            {
                stream.Enqueue(new WatchResponse { WatchId = WatchResponse.StreamWatchId, Revision = _lastRevision });
            }
        }
        _progressWaiting.Remove(stream);
    }

    /// <summary>
    /// Progress timer of a stream: each watcher that asked for progress, got no events since the last tick and
    /// is synced gets an empty response at L, if the stream has room (else it is skipped until the next tick).
    /// </summary>
    private void OnProgressTick(WatchStream stream)
    {
        lock (_gate)
        {
            if (stream.Closed)
            {
                return;
            }
            foreach (var w in stream.Watchers.Values)
            {
                if (!w.ProgressNotify)
                {
                    continue;
                }
                if (!w.SentSinceTick && IsProgressableLocked(w) && stream.HasRoom)
                {
                    stream.Enqueue(new WatchResponse { WatchId = w.Id, Revision = _lastRevision });
                }
                w.SentSinceTick = false;
            }
        }
    }
}
