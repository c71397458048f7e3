using Conclave.Api.Etcd.Protocol;
using Conclave.Api.Etcd.Protocol.MvccPb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Verification.Workload;

/// <summary>
/// A watcher on a key prefix (the workload's) that survives faults: when its stream breaks, is
/// cancelled, or its member loses the leader (the "hasleader" metadata asks the server to cancel
/// the watch then), it reconnects to the next member from the last revision it saw + 1. It records
/// every event it is given, duplicates and all, for <see cref="Checking.HistoryChecker"/>.
/// </summary>
public sealed class WatchRecorder : IAsyncDisposable
{
    private readonly IReadOnlyList<Uri> _clientUrls;
    private readonly string _prefix;
    private readonly List<WatchedEvent> _events = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private TaskCompletionSource _progress = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _stream;
    private long _lastRevision;
    private int _member;

    /// <param name="startRevision">First revision to report (at least 1).</param>
    public WatchRecorder(string name, IReadOnlyList<Uri> clientUrls, int firstMember, long startRevision)
        : this(name, clientUrls, firstMember, startRevision, KvWorkload.KeyPrefix)
    {
    }

    /// <param name="startRevision">First revision to report (at least 1).</param>
    /// <param name="prefix">The watched prefix; not empty.</param>
    public WatchRecorder(string name, IReadOnlyList<Uri> clientUrls, int firstMember, long startRevision, string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        Name = name;
        _clientUrls = clientUrls;
        _prefix = prefix;
        _member = firstMember % clientUrls.Count;
        StartRevision = startRevision;
        _lastRevision = startRevision - 1;
        _loop = Task.Run(LoopAsync);
    }

    public string Name { get; }

    public long StartRevision { get; }

    public int Reconnects { get; private set; }

    public long LastRevision
    {
        get
        {
            lock (_lock)
            {
                return _lastRevision;
            }
        }
    }

    public IReadOnlyList<WatchedEvent> Events
    {
        get
        {
            lock (_lock)
            {
                return _events.ToList();
            }
        }
    }

    /// <summary>
    /// Waits until an event at or after <paramref name="revision"/> was seen. Halfway through
    /// <paramref name="timeout"/> it drops the current stream once (a member may hold a stalled
    /// watch). Returns false on timeout.
    /// </summary>
    public async Task<bool> CatchUpAsync(long revision, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var nudged = false;
        while (true)
        {
            Task progress;
            lock (_lock)
            {
                if (_lastRevision >= revision)
                {
                    return true;
                }

                progress = _progress.Task;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            if (!nudged && left < timeout / 2)
            {
                nudged = true;
                ForceReconnect();
            }

            await Task.WhenAny(progress, Task.Delay(nudged ? left : left - (timeout / 2)));
        }
    }

    public void ForceReconnect()
    {
        lock (_lock)
        {
            _stream?.Cancel();
        }
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            using var stream = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            lock (_lock)
            {
                _stream = stream;
            }

            try
            {
                await WatchOnceAsync(_clientUrls[_member], stream.Token);
            }
            catch (Exception e) when (e is RpcException or OperationCanceledException or IOException or InvalidOperationException)
            {
            }

            lock (_lock)
            {
                _stream = null;
            }

            if (_stop.IsCancellationRequested)
            {
                return;
            }

            Reconnects++;
            _member = (_member + 1) % _clientUrls.Count;
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task WatchOnceAsync(Uri url, CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(url);
        var client = new Watch.WatchClient(channel);
        var headers = new Metadata { { "hasleader", "true" } };
        using var call = client.Watch(headers, cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest
            {
                Key = ByteString.CopyFromUtf8(_prefix),
                RangeEnd = ByteString.CopyFromUtf8(PrefixEnd(_prefix)),
                StartRevision = LastRevision + 1,
            },
        }, cancellationToken);
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
            var response = call.ResponseStream.Current;
            if (response.Canceled || response.CompactRevision > 0)
            {
                return;
            }

            if (response.Events.Count == 0)
            {
                continue;
            }

            lock (_lock)
            {
                foreach (var e in response.Events)
                {
                    var isDelete = e.Type == Event.Types.EventType.Delete;
                    _events.Add(new WatchedEvent(e.Kv.ModRevision, e.Kv.Key.ToStringUtf8(), isDelete, isDelete ? null : e.Kv.Value.ToStringUtf8()));
                    _lastRevision = Math.Max(_lastRevision, e.Kv.ModRevision);
                }

                _progress.TrySetResult();
                _progress = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    private static string PrefixEnd(string prefix) => prefix[..^1] + (char)(prefix[^1] + 1);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
