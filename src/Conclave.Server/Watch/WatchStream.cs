using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Watch;

/// <summary>
/// One client watch stream (one etcd Watch call): its watchers and the queue of responses to send.
/// Create, Cancel and RequestProgress may be called from any thread; <see cref="Responses"/> has one reader.
/// <para>
/// Memory bound: event responses (and periodic progress notifications) are queued only while fewer than
/// <see cref="WatchHubOptions.StreamBufferResponses"/> responses wait unread; when the queue is full a
/// watcher moves to the hub's catch-up group and later gets the same events from history. Responses that
/// answer a request (created, canceled, RequestProgress) and compaction cancels are always queued: there is
/// one per client request (held back by <see cref="WaitForRoomAsync"/>) or per watcher. A response's events are the store's own immutable kvs, not copies.
/// </para>
/// <para>
/// Dispose cancels every watcher without sending cancel responses, drops what is queued and completes
/// <see cref="Responses"/>; the hub keeps no reference to the stream afterwards.
/// </para>
/// </summary>
public sealed class WatchStream : IDisposable
{
    private readonly WatchHub _hub;
    private readonly Channel<WatchResponse> _channel = Channel.CreateUnbounded<WatchResponse>(
        new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly int _capacity;
    private readonly int _resumeBelow;
    private int _pending;
    private int _wakeArmed;
    private TaskCompletionSource? _roomWaiter;
    private int _completed;

    internal WatchStream(WatchHub hub, int capacity)
    {
        _hub = hub;
        _capacity = capacity;
        _resumeBelow = Math.Max(1, capacity / 2);
        Responses = new ResponseReader(this);
    }

    /// <summary>Responses in the order they must be sent. Completes when the stream is disposed or the hub stops.</summary>
    public ChannelReader<WatchResponse> Responses { get; }

    /// <summary>Responses queued and not yet read.</summary>
    public int Pending => Volatile.Read(ref _pending);

    // Guarded by the hub's lock.
    internal Dictionary<long, Watcher> Watchers { get; } = [];

    internal long NextAutoId { get; set; }

    /// <summary>A RequestProgress waits for every watcher of the stream to be synced.</summary>
    internal bool ProgressRequested { get; set; }

    internal bool Closed { get; set; }

    internal ITimer? ProgressTimer { get; set; }

    /// <summary>
    /// Adds a watcher and queues its created response (or the created + canceled response of a failed create),
    /// which comes before any of its events.
    /// </summary>
    public WatchCreateResult Create(WatchCreateRequest request) => _hub.Create(this, request);

    /// <summary>
    /// Cancels a watcher: nothing of it is queued after its canceled response. False (and nothing queued)
    /// when the stream has no watcher with that id, as etcd ignores such a cancel.
    /// </summary>
    public bool Cancel(long watchId) => _hub.Cancel(this, watchId);

    /// <summary>
    /// Queues a progress response (<see cref="WatchResponse.StreamWatchId"/>, the hub's current revision)
    /// as soon as every watcher of the stream is synced: at once if they are, else when the last one catches
    /// up. Repeated requests while one waits are answered once. A stream without watchers gets no answer (as etcd).
    /// </summary>
    public void RequestProgress() => _hub.RequestProgress(this);

    public void Dispose() => _hub.Close(this);

    /// <summary>
    /// Completes when fewer than <see cref="WatchHubOptions.StreamBufferResponses"/> responses wait unread, or the
    /// stream is closed. A front end awaits it before handling each client request, so a client that sends
    /// requests without reading responses is held back (etcd blocks its receive loop the same way) and the
    /// responses to requests stay bounded too. One waiter at a time: a new call releases the previous one.
    /// </summary>
    public Task WaitForRoomAsync(CancellationToken cancellationToken = default)
    {
        if (HasRoom || Volatile.Read(ref _completed) != 0)
        {
            return Task.CompletedTask;
        }
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _roomWaiter, waiter)?.TrySetResult();
        // Dekker pair with OnRead, as for the catch-up wake.
        if (HasRoom || Volatile.Read(ref _completed) != 0)
        {
            Interlocked.CompareExchange(ref _roomWaiter, null, waiter);
            waiter.TrySetResult();
        }
        return waiter.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Test seam: runs on the reader's thread in every read, after the read is counted and before the wake request is tested.</summary>
    internal Action? AfterReadCounted { get; set; }

    internal bool HasRoom => Volatile.Read(ref _pending) < _capacity;

    /// <summary>Catch-up resumes only below half the capacity, so a slow reader is not woken per response.</summary>
    internal bool HasCatchUpRoom => Volatile.Read(ref _pending) < _resumeBelow;

    /// <summary>
    /// Asks to wake the catch-up loop when the reader brings the queue below the resume mark. Returns true when
    /// that is already the case (the caller goes on instead of waiting). The request stays armed either way:
    /// it is shared by every watcher of the stream, and one skipped earlier in the same turn still needs its
    /// wake (clearing it here could swallow the wake of a read that counted before this check but tested the
    /// flag after it). At worst that costs the loop one spare turn.
    /// </summary>
    internal bool ArmCatchUpWake()
    {
        // Dekker pair with OnRead: both sides write with a full fence, then read the other's variable.
        Interlocked.Exchange(ref _wakeArmed, 1);
        return Volatile.Read(ref _pending) < _resumeBelow;
    }

    internal void Enqueue(WatchResponse response)
    {
        Interlocked.Increment(ref _pending);
        if (!_channel.Writer.TryWrite(response))
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>Queues events for a watcher as one response, or as fragments when it asked for them and the response is too large.</summary>
    internal void EnqueueEvents(Watcher w, long revision, IReadOnlyList<Event> events, WatchHubOptions options)
    {
        if (w.Fragment && events.Count > 1)
        {
            long total = 0;
            foreach (var ev in events)
            {
                total += EstimateSize(ev, options.EventOverheadBytes);
            }
            if (total > options.MaxResponseBytes)
            {
                var piece = new List<Event>();
                long size = 0;
                foreach (var ev in events)
                {
                    var s = EstimateSize(ev, options.EventOverheadBytes);
                    if (piece.Count > 0 && size + s > options.MaxResponseBytes)
                    {
                        Enqueue(new WatchResponse { WatchId = w.Id, Revision = revision, Events = piece, Fragment = true });
                        piece = [];
                        size = 0;
                    }
                    piece.Add(ev);
                    size += s;
                }
                Enqueue(new WatchResponse { WatchId = w.Id, Revision = revision, Events = piece });
                return;
            }
        }
        Enqueue(new WatchResponse { WatchId = w.Id, Revision = revision, Events = events });
    }

    internal static long EstimateSize(Event ev, int overhead)
    {
        long size = overhead + ev.Kv.Key.Length + ev.Kv.Value.Length;
        if (ev.PrevKv is not null)
        {
            size += overhead + ev.PrevKv.Key.Length + ev.PrevKv.Value.Length;
        }
        return size;
    }

    /// <summary>Completes the response channel; with <paramref name="drop"/> the unread responses are freed.</summary>
    internal void Complete(bool drop)
    {
        _channel.Writer.TryComplete();
        Interlocked.Exchange(ref _completed, 1);
        Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
        if (drop)
        {
            while (_channel.Reader.TryRead(out _))
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    internal void Fail(Exception error)
    {
        _channel.Writer.TryComplete(error);
        Interlocked.Exchange(ref _completed, 1);
        Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
    }

    private void OnRead()
    {
        var pending = Interlocked.Decrement(ref _pending);
        AfterReadCounted?.Invoke();
        if (pending < _capacity && Volatile.Read(ref _roomWaiter) is not null)
        {
            Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
        }
        if (pending < _resumeBelow && Volatile.Read(ref _wakeArmed) == 1 && Interlocked.Exchange(ref _wakeArmed, 0) == 1)
        {
            _hub.WakeCatchUp();
        }
    }

    /// <summary>Counts what the client reads so that the hub knows when the queue has room again.</summary>
    private sealed class ResponseReader(WatchStream stream) : ChannelReader<WatchResponse>
    {
        public override Task Completion => stream._channel.Reader.Completion;

        public override bool CanCount => true;

        public override int Count => stream._channel.Reader.Count;

        public override bool CanPeek => true;

        public override bool TryPeek([MaybeNullWhen(false)] out WatchResponse item) => stream._channel.Reader.TryPeek(out item);

        public override bool TryRead([MaybeNullWhen(false)] out WatchResponse item)
        {
            if (!stream._channel.Reader.TryRead(out item))
            {
                return false;
            }
            stream.OnRead();
            return true;
        }

        public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
            stream._channel.Reader.WaitToReadAsync(cancellationToken);
    }
}
