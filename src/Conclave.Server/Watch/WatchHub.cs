using System.Threading.Channels;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Watch;

/// <summary>
/// Serves every watch of one member from its <see cref="MvccStore"/> (etcd's watchableStore).
/// <para>
/// Two groups, as in etcd. <b>Synced</b> watchers have been given every event up to the hub's last
/// revision L (the last commit batch it saw) and are fed by <see cref="OnCommit"/>, which the store calls
/// on the apply thread: it only matches keys and queues responses, never waits. A synced watcher whose
/// stream queue is full moves to the <b>unsynced</b> group at the revision it missed. The catch-up loop (one
/// task, woken by signals, never polling) reads history for unsynced watchers with
/// <see cref="MvccStore.EventsSince"/> in chunks of <see cref="WatchHubOptions.CatchUpChunkEvents"/>, one chunk
/// per watcher per turn and only while its stream has room, and returns a watcher to the synced group once
/// it has everything up to L. Chunks are cut at L, so a synced watcher never holds events above L and
/// commit batches are delivered to it exactly once.
/// </para>
/// <para>
/// One lock guards both groups and every watcher; it is held only to match, move and queue, never during a
/// history read. Lifecycle: <see cref="Start"/> subscribes to the store and starts the loop;
/// <see cref="DisposeAsync"/> unsubscribes, stops the loop and completes every stream.
/// </para>
/// </summary>
public sealed partial class WatchHub : IAsyncDisposable
{
    private readonly MvccStore _store;
    private readonly WatchHubOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly WatcherGroup _synced = new();
    private readonly HashSet<Watcher> _unsynced = [];
    private readonly HashSet<WatchStream> _streams = [];
    private readonly HashSet<WatchStream> _progressWaiting = [];
    private readonly Dictionary<Watcher, List<Event>> _batchScratch = new(ReferenceEqualityComparer.Instance);
    private readonly List<Watcher> _matchScratch = [];
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private IDisposable? _subscription;
    private Task? _catchUp;
    private long _lastRevision;
    private bool _started;
    private bool _stopped;
    private bool _disposed;

    public WatchHub(MvccStore store, WatchHubOptions? options = null, TimeProvider? time = null)
    {
        _store = store;
        _options = options ?? new WatchHubOptions();
        _time = time ?? TimeProvider.System;
        if (_options.StreamBufferResponses < 1 || _options.CatchUpChunkEvents < 1 || _options.MaxResponseBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "watch: buffer, chunk and response sizes must be positive");
        }
    }

    /// <summary>The last revision whose commit batch the hub has seen (the header revision of control responses).</summary>
    public long Revision
    {
        get
        {
            lock (_gate)
            {
                return _lastRevision;
            }
        }
    }

    /// <summary>Watchers fed by commits / by the catch-up loop (for tests and metrics).</summary>
    public (int Synced, int Unsynced) GroupSizes
    {
        get
        {
            lock (_gate)
            {
                return (_synced.Count, _unsynced.Count);
            }
        }
    }

    /// <summary>Subscribes to the store's commits and starts the catch-up loop. Once.</summary>
    public void Start()
    {
        lock (_gate)
        {
            if (_started)
            {
                throw new InvalidOperationException("watch: the hub is already started");
            }
            _started = true;
        }
        var subscription = _store.Subscribe(OnCommit);
        // Subscribed first, then read: a commit racing with Start is in the store's revision, or delivered to
        // OnCommit, or both; the max keeps L right. (The store's lock is never taken under the hub's.)
        var current = _store.CurrentRevision;
        lock (_gate)
        {
            _lastRevision = Math.Max(_lastRevision, current);
            _subscription = subscription;
        }
        _catchUp = Task.Run(() => RunCatchUpAsync(_stop.Token));
    }

    /// <summary>A new client stream. The hub must be started and not stopped.</summary>
    public WatchStream OpenStream()
    {
        lock (_gate)
        {
            if (!_started || _stopped)
            {
                throw new InvalidOperationException("watch: the hub is not running");
            }
            var stream = new WatchStream(this, _options.StreamBufferResponses);
            _streams.Add(stream);
            return stream;
        }
    }

    /// <summary>
    /// Stops feeding watchers: unsubscribes, stops the catch-up loop (rethrowing a failure of it) and completes
    /// every stream's responses (already queued ones stay readable).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _stopped = true;
        }
        _subscription?.Dispose();
        _stop.Cancel();
        try
        {
            if (_catchUp is not null)
            {
                await _catchUp.ConfigureAwait(false);
            }
        }
        finally
        {
            lock (_gate)
            {
                foreach (var stream in _streams)
                {
                    CloseLocked(stream);
                    stream.Complete(drop: false);
                }
                _streams.Clear();
            }
            _stop.Dispose();
        }
    }

    /// <summary>
    /// The store's commit handler (apply thread): queues each synced watcher's share of the batch, moving a
    /// watcher whose stream is full to the unsynced group at this revision.
    /// </summary>
    private void OnCommit(EventBatch batch)
    {
        var wake = false;
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }
            _lastRevision = batch.Revision;
            if (_synced.Count > 0)
            {
                foreach (var ev in batch.Events)
                {
                    _matchScratch.Clear();
                    _synced.Match(ev.Kv.Key.Span, _matchScratch);
                    foreach (var w in _matchScratch)
                    {
                        if (batch.Revision < w.NextRevision)
                        {
                            continue;
                        }
                        var projected = w.Project(ev);
                        if (projected is null)
                        {
                            continue;
                        }
                        if (!_batchScratch.TryGetValue(w, out var list))
                        {
                            list = [];
                            _batchScratch.Add(w, list);
                        }
                        list.Add(projected);
                    }
                }
                foreach (var (w, events) in _batchScratch)
                {
                    if (w.Stream.HasRoom)
                    {
                        w.Stream.EnqueueEvents(w, batch.Revision, events, _options);
                        w.SentSinceTick = true;
                    }
                    else
                    {
                        _synced.Remove(w);
                        w.State = WatcherState.Unsynced;
                        w.NextRevision = batch.Revision;
                        _unsynced.Add(w);
                        wake = true;
                    }
                }
                _batchScratch.Clear();
                _matchScratch.Clear();
            }
            if (_progressWaiting.Count > 0)
            {
                foreach (var stream in _progressWaiting.ToArray())
                {
                    TryAnswerProgressLocked(stream);
                }
            }
        }
        if (wake)
        {
            WakeCatchUp();
        }
    }

    /// <summary>
    /// Call on the apply thread after the store's state was replaced (<see cref="MvccStore.Restore"/> of a
    /// snapshot): revisions the hub never saw as commit batches may now exist. Every synced watcher moves to the
    /// catch-up group at the revision it needs next and is fed from the restored history (or canceled with the
    /// compaction revision when that history is gone), as etcd's watchable store does on restore.
    /// </summary>
    public void Resync()
    {
        var current = _store.CurrentRevision;
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }
            var next = _lastRevision + 1;
            foreach (var w in _synced.ToList())
            {
                w.NextRevision = Math.Max(w.NextRevision, next);
                if (w.NextRevision <= current)
                {
                    _synced.Remove(w);
                    w.State = WatcherState.Unsynced;
                    _unsynced.Add(w);
                }
            }
            _lastRevision = current;
        }
        WakeCatchUp();
    }

    /// <summary>
    /// Call after <see cref="MvccStore.Compact"/>: unsynced watchers whose next revision is now below the compaction
    /// revision are canceled at once, even those waiting for a slow reader, instead of at the next catch-up turn.
    /// </summary>
    public void CompactionApplied() => WakeCatchUp();

    internal void WakeCatchUp() => _wake.Writer.TryWrite(true);

    /// <summary>Wakes queued for the catch-up loop and not yet taken by it: 0 or 1 (for tests).</summary>
    internal int QueuedWakes => _wake.Reader.Count;
}
