using System.Buffers.Binary;
using System.Diagnostics;
using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Conclave.Bench.Workloads;

/// <summary>
/// `watch`: <paramref name="watchers"/> watchers, spread round robin over <paramref name="streams"/>
/// Watch streams (stream i on channel i mod conns), all watch every key of the key space's
/// prefix. The load clients put to the key space; each value starts with the put's send time
/// (a big-endian Stopwatch timestamp of this process), so the "event" series measures from
/// the moment a put was sent to the moment each watcher receives its event. Expected events =
/// successful puts × watchers; any not received within <see cref="DrainTimeout"/> after the
/// last put are counted as error "NotDelivered". Nobody else may write under the prefix.
/// </summary>
public sealed class WatchWorkload : IWorkload
{
    /// <summary>How long to wait, after the last put, for events still on their way.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    private readonly KeySpace _keys;
    private readonly int _valueSize;
    private readonly int _watchers;
    private readonly int _streams;
    private readonly int _seed;
    private readonly SeriesRecorder _events = new("event");
    private readonly CancellationTokenSource _streamsCancel = new();
    private readonly List<Task> _readers = [];
    private readonly List<AsyncDuplexStreamingCall<WatchRequest, WatchResponse>> _calls = [];
    private readonly TaskCompletionSource _allDelivered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _received;
    private long _expected = long.MaxValue;

    public WatchWorkload(KeySpace keys, int valueSize, int watchers, int streams, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(watchers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(streams, 1);
        if (streams > watchers)
        {
            throw new ArgumentException($"--streams {streams} is more than --watchers {watchers}: a stream would carry no watcher");
        }
        _keys = keys;
        _valueSize = Math.Max(valueSize, sizeof(long));
        _watchers = watchers;
        _streams = streams;
        _seed = seed;
    }

    public string Name => "watch";

    public IReadOnlyList<string> OperationSeries { get; } = ["put"];

    public IReadOnlyDictionary<string, string> Parameters => new SortedDictionary<string, string>(PutWorkload.KeyParameters(_keys, _valueSize), StringComparer.Ordinal)
    {
        ["watchers"] = _watchers.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["streams"] = _streams.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Opens the streams and creates every watcher; returns when the server confirmed all of them.</summary>
    public async Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken)
    {
        var created = new List<Task>();
        for (var s = 0; s < _streams; s++)
        {
            var onStream = (_watchers / _streams) + (s < _watchers % _streams ? 1 : 0);
            var call = new Watch.WatchClient(connections[s % connections.Count]).Watch(cancellationToken: _streamsCancel.Token);
            _calls.Add(call);
            var confirmed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _readers.Add(Task.Run(() => ReadAsync(call, onStream, confirmed)));
            var create = new WatchRequest
            {
                CreateRequest = new WatchCreateRequest { Key = _keys.Prefix, RangeEnd = KeySpace.PrefixEnd(_keys.Prefix) },
            };
            for (var w = 0; w < onStream; w++)
            {
                await call.RequestStream.WriteAsync(create, cancellationToken);
            }
            created.Add(confirmed.Task);
        }
        await Task.WhenAll(created).WaitAsync(BenchRunner.SetupTimeout, cancellationToken);
    }

    public BenchClient CreateClient(int index, BenchConnections connections) =>
        new Client(new KV.KVClient(connections.ForClient(index)), _keys, PutWorkload.RandomValue(_valueSize, _seed + index), new Random(_seed + index));

    public async Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken)
    {
        var expected = operations[0].Count * _watchers;
        Volatile.Write(ref _expected, expected);
        if (Interlocked.Read(ref _received) >= expected)
        {
            _allDelivered.TrySetResult();
        }
        try
        {
            await _allDelivered.Task.WaitAsync(DrainTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
        }
        catch (OperationCanceledException)
        {
        }
        await _streamsCancel.CancelAsync();
        foreach (var call in _calls)
        {
            call.Dispose();
        }
        await Task.WhenAll(_readers);
        var missing = expected - Interlocked.Read(ref _received);
        if (missing > 0 && !cancellationToken.IsCancellationRequested)
        {
            _events.Error("NotDelivered", $"watch: {missing} of {expected} events did not arrive within {DrainTimeout.TotalSeconds:0} s of the last put", missing);
        }
        _streamsCancel.Dispose();
        return [_events];
    }

    /// <summary>Reads one stream until it is cancelled: confirms its watchers' creation, records each event's latency.</summary>
    private async Task ReadAsync(AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call, int watchers, TaskCompletionSource confirmed)
    {
        var created = 0;
        try
        {
            await foreach (var response in call.ResponseStream.ReadAllAsync(_streamsCancel.Token))
            {
                var now = Stopwatch.GetTimestamp();
                if (response.Created && ++created == watchers)
                {
                    confirmed.TrySetResult();
                }
                if (response.Canceled)
                {
                    _events.Error("WatchCanceled", $"watch: the server cancelled watcher {response.WatchId}: {response.CancelReason}");
                    confirmed.TrySetException(new RpcException(new Status(StatusCode.Cancelled, $"watch cancelled: {response.CancelReason}")));
                }
                foreach (var e in response.Events)
                {
                    if (e.Kv.Value.Length < sizeof(long))
                    {
                        _events.Error("ForeignEvent", $"watch: an event for {e.Kv.Key.ToStringUtf8()} was not written by this bench");
                        continue;
                    }
                    _events.Record(BinaryPrimitives.ReadInt64BigEndian(e.Kv.Value.Span), now);
                }
                if (response.Events.Count > 0 && Interlocked.Add(ref _received, response.Events.Count) >= Volatile.Read(ref _expected))
                {
                    _allDelivered.TrySetResult();
                }
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && _streamsCancel.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException) when (_streamsCancel.IsCancellationRequested)
        {
        }
        catch (RpcException e)
        {
            _events.Error(e.StatusCode.ToString(), e.Status.Detail);
            confirmed.TrySetException(e);
        }
    }

    /// <param name="padding">The value's bytes after the timestamp come from here; its length is the value size.</param>
    private sealed class Client(KV.KVClient kv, KeySpace keys, ByteString padding, Random random) : BenchClient
    {
        public override async Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken)
        {
            var value = padding.ToByteArray();
            BinaryPrimitives.WriteInt64BigEndian(value, Stopwatch.GetTimestamp());
            await kv.PutAsync(new PutRequest { Key = keys.Key(keys.IndexFor(operation, random)), Value = ByteString.CopyFrom(value) }, cancellationToken: cancellationToken);
        }
    }
}
