using System.Net;
using Conclave.Api.Etcd.Protocol;
using Conclave.Api.Etcd.Protocol.MvccPb;
using Conclave.Testing.Etcd;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Conclave.E2E.Tests;

/// <summary>
/// A tiny in-process etcd v3 server (KV, Watch, Lease; only what `conclave selftest` uses). With
/// staleReads it has one deliberate bug: a Range of a single key answers the value the key had
/// *before* its latest write, i.e. it serves a stale read after a newer put was acknowledged.
/// Writes, txn compares, ranges over a prefix and watches are always correct, so the only thing
/// wrong is linearizability.
/// </summary>
internal sealed class FakeEtcd : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeEtcd(WebApplication app, int port, FakeStore store)
    {
        _app = app;
        Port = port;
        Store = store;
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public FakeStore Store { get; }

    public static async Task<FakeEtcd> StartAsync(bool staleReads)
    {
        var port = FreePort.Take(1)[0];
        var store = new FakeStore(staleReads);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(store);
        var app = builder.Build();
        app.MapGrpcService<KvService>();
        app.MapGrpcService<WatchService>();
        app.MapGrpcService<LeaseService>();
        await app.StartAsync();
        return new FakeEtcd(app, port, store);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal sealed record Entry(string Value, long Create, long Mod, long Version, long Lease);

    /// <summary>The store: current entries, each key's entry before its latest write, the event log.</summary>
    internal sealed class FakeStore(bool staleReads)
    {
        private readonly Lock _lock = new();
        private readonly SortedDictionary<string, Entry> _current = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Entry?> _previous = new(StringComparer.Ordinal);
        private readonly List<Event> _log = [];
        private readonly HashSet<long> _leases = [];
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _revision = 1;
        private long _nextLease = 1000;

        public ResponseHeader Header()
        {
            lock (_lock)
            {
                return new ResponseHeader { ClusterId = 1, MemberId = 1, Revision = _revision, RaftTerm = 1 };
            }
        }

        public int Count
        {
            get
            {
                lock (_lock)
                {
                    return _current.Count;
                }
            }
        }

        public RangeResponse Range(RangeRequest request)
        {
            lock (_lock)
            {
                var response = new RangeResponse { Header = Header() };
                if (request.RangeEnd.IsEmpty)
                {
                    // The bug: the value before the latest write.
                    var key = request.Key.ToStringUtf8();
                    var entry = staleReads && _previous.TryGetValue(key, out var previous) ? previous : _current.GetValueOrDefault(key);
                    if (entry is not null)
                    {
                        response.Kvs.Add(ToKv(key, entry));
                    }

                    response.Count = response.Kvs.Count;
                    return response;
                }

                var matching = InRange(request.Key, request.RangeEnd).ToList();
                response.Count = matching.Count;
                if (!request.CountOnly)
                {
                    response.Kvs.Add(matching.Select(k => ToKv(k, _current[k])));
                }

                return response;
            }
        }

        public long Put(string key, string value, long lease)
        {
            lock (_lock)
            {
                if (lease != 0 && !_leases.Contains(lease))
                {
                    throw new RpcException(new Status(StatusCode.NotFound, "etcdserver: requested lease not found"));
                }

                _revision++;
                var before = _current.GetValueOrDefault(key);
                var entry = new Entry(value, before?.Create ?? _revision, _revision, (before?.Version ?? 0) + 1, lease);
                _previous[key] = before;
                _current[key] = entry;
                _log.Add(new Event { Type = Event.Types.EventType.Put, Kv = ToKv(key, entry) });
                Pulse();
                return _revision;
            }
        }

        /// <summary>Deletes the keys in range at one new revision (none: no new revision).</summary>
        public long Delete(ByteString key, ByteString rangeEnd)
        {
            lock (_lock)
            {
                List<string> keys = rangeEnd.IsEmpty ? (_current.ContainsKey(key.ToStringUtf8()) ? [key.ToStringUtf8()] : []) : InRange(key, rangeEnd).ToList();
                DeleteKeys(keys);
                return keys.Count;
            }
        }

        public bool CompareAndPut(Compare compare, PutRequest put)
        {
            lock (_lock)
            {
                var current = _current.GetValueOrDefault(compare.Key.ToStringUtf8());
                var holds = compare.Target switch
                {
                    Compare.Types.CompareTarget.Create => (current?.Create ?? 0) == compare.CreateRevision,
                    Compare.Types.CompareTarget.Value => current is not null && current.Value == compare.Value.ToStringUtf8(),
                    _ => throw new RpcException(new Status(StatusCode.Unimplemented, "fake: compare target")),
                };
                if (holds)
                {
                    Put(put.Key.ToStringUtf8(), put.Value.ToStringUtf8(), put.Lease);
                }

                return holds;
            }
        }

        public long Grant()
        {
            lock (_lock)
            {
                _leases.Add(++_nextLease);
                return _nextLease;
            }
        }

        public void Revoke(long id)
        {
            lock (_lock)
            {
                if (!_leases.Remove(id))
                {
                    throw new RpcException(new Status(StatusCode.NotFound, "etcdserver: requested lease not found"));
                }

                DeleteKeys(_current.Where(e => e.Value.Lease == id).Select(e => e.Key).ToList());
            }
        }

        /// <summary>Events in range from <paramref name="fromRevision"/> on, and a task that completes at the next change.</summary>
        public (List<Event> Events, Task Changed) EventsFrom(long fromRevision, ByteString key, ByteString rangeEnd)
        {
            lock (_lock)
            {
                var events = _log.Where(e => e.Kv.ModRevision >= fromRevision && Matches(e.Kv.Key, key, rangeEnd)).ToList();
                return (events, _changed.Task);
            }
        }

        public long Revision
        {
            get
            {
                lock (_lock)
                {
                    return _revision;
                }
            }
        }

        private void DeleteKeys(List<string> keys)
        {
            if (keys.Count == 0)
            {
                return;
            }

            _revision++;
            foreach (var k in keys)
            {
                _previous[k] = _current[k];
                _current.Remove(k);
                _log.Add(new Event { Type = Event.Types.EventType.Delete, Kv = new KeyValue { Key = ByteString.CopyFromUtf8(k), ModRevision = _revision } });
            }

            Pulse();
        }

        private void Pulse()
        {
            _changed.TrySetResult();
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        private IEnumerable<string> InRange(ByteString key, ByteString rangeEnd) =>
            _current.Keys.Where(k => Matches(ByteString.CopyFromUtf8(k), key, rangeEnd));

        private static bool Matches(ByteString candidate, ByteString key, ByteString rangeEnd) =>
            rangeEnd.IsEmpty
                ? candidate.Equals(key)
                : candidate.Span.SequenceCompareTo(key.Span) >= 0 && candidate.Span.SequenceCompareTo(rangeEnd.Span) < 0;

        private static KeyValue ToKv(string key, Entry entry) => new()
        {
            Key = ByteString.CopyFromUtf8(key),
            Value = ByteString.CopyFromUtf8(entry.Value),
            CreateRevision = entry.Create,
            ModRevision = entry.Mod,
            Version = entry.Version,
            Lease = entry.Lease,
        };
    }

    private sealed class KvService(FakeStore store) : KV.KVBase
    {
        public override Task<RangeResponse> Range(RangeRequest request, ServerCallContext context) => Task.FromResult(store.Range(request));

        public override Task<PutResponse> Put(PutRequest request, ServerCallContext context)
        {
            store.Put(request.Key.ToStringUtf8(), request.Value.ToStringUtf8(), request.Lease);
            return Task.FromResult(new PutResponse { Header = store.Header() });
        }

        public override Task<DeleteRangeResponse> DeleteRange(DeleteRangeRequest request, ServerCallContext context)
        {
            var deleted = store.Delete(request.Key, request.RangeEnd);
            return Task.FromResult(new DeleteRangeResponse { Header = store.Header(), Deleted = deleted });
        }

        public override Task<TxnResponse> Txn(TxnRequest request, ServerCallContext context)
        {
            if (request.Compare.Count != 1 || request.Success.Count != 1 || request.Success[0].RequestPut is null || request.Failure.Count != 0)
            {
                throw new RpcException(new Status(StatusCode.Unimplemented, "fake: only a one-compare, one-put txn"));
            }

            var succeeded = store.CompareAndPut(request.Compare[0], request.Success[0].RequestPut);
            return Task.FromResult(new TxnResponse { Header = store.Header(), Succeeded = succeeded });
        }
    }

    private sealed class WatchService(FakeStore store) : Watch.WatchBase
    {
        public override async Task Watch(IAsyncStreamReader<WatchRequest> requestStream, IServerStreamWriter<WatchResponse> responseStream, ServerCallContext context)
        {
            var cancel = context.CancellationToken;
            if (!await requestStream.MoveNext(cancel) || requestStream.Current.CreateRequest is not { } create)
            {
                return;
            }

            await responseStream.WriteAsync(new WatchResponse { Header = store.Header(), Created = true }, cancel);
            var next = create.StartRevision > 0 ? create.StartRevision : store.Revision + 1;
            try
            {
                while (true)
                {
                    var (events, changed) = store.EventsFrom(next, create.Key, create.RangeEnd);
                    if (events.Count > 0)
                    {
                        var response = new WatchResponse { Header = store.Header() };
                        response.Events.Add(events);
                        await responseStream.WriteAsync(response, cancel);
                        next = events[^1].Kv.ModRevision + 1;
                    }

                    await changed.WaitAsync(cancel);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private sealed class LeaseService(FakeStore store) : Lease.LeaseBase
    {
        public override Task<LeaseGrantResponse> LeaseGrant(LeaseGrantRequest request, ServerCallContext context) =>
            Task.FromResult(new LeaseGrantResponse { Header = store.Header(), ID = store.Grant(), TTL = request.TTL });

        public override Task<LeaseRevokeResponse> LeaseRevoke(LeaseRevokeRequest request, ServerCallContext context)
        {
            store.Revoke(request.ID);
            return Task.FromResult(new LeaseRevokeResponse { Header = store.Header() });
        }
    }
}
