using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;
using V3Lock = Conclave.Api.Etcd.Protocol.V3LockPb;

namespace Conclave.Bench.Workloads;

/// <summary>
/// `lock`: every client contends for one mutex, <paramref name="name"/>, through the v3lock
/// service. Each client holds a lease of <paramref name="ttlSeconds"/>; each operation is a
/// Lock (which waits while another client holds it) followed by an Unlock, so the latency is
/// the wait plus both round trips. Two clients holding the mutex at once is counted as error
/// "LockOverlap" (the count of holders drops before Unlock is sent, so a correct server never
/// triggers it).
/// </summary>
public sealed class LockWorkload(ByteString name, long ttlSeconds) : IWorkload
{
    private int _holders;

    public string Name => "lock";

    public IReadOnlyList<string> OperationSeries { get; } = ["lock-unlock"];

    public IReadOnlyDictionary<string, string> Parameters => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["lock-name"] = name.ToStringUtf8(),
        ["lease-ttl"] = ttlSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken) => Task.CompletedTask;

    public BenchClient CreateClient(int index, BenchConnections connections)
    {
        var channel = connections.ForClient(index);
        return new Client(this, new V3Lock.Lock.LockClient(channel), new Lease.LeaseClient(channel));
    }

    public Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SeriesRecorder>>([]);

    private sealed class Client(LockWorkload workload, V3Lock.Lock.LockClient locks, Lease.LeaseClient leases) : BenchClient
    {
        private long _leaseId;

        public override async Task StartAsync(CancellationToken cancellationToken) =>
            _leaseId = await LeaseGrants.GrantAsync(leases, workload.Ttl, cancellationToken);

        public override async Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken)
        {
            var locked = await locks.LockAsync(new V3Lock.LockRequest { Name = workload.MutexName, Lease = _leaseId }, cancellationToken: cancellationToken);
            var overlapped = Interlocked.Increment(ref workload._holders) != 1;
            Interlocked.Decrement(ref workload._holders);
            await locks.UnlockAsync(new V3Lock.UnlockRequest { Key = locked.Key }, cancellationToken: cancellationToken);
            if (overlapped)
            {
                throw new BenchOperationException("LockOverlap", $"lock: acquired {locked.Key.ToStringUtf8()} while another client held the mutex");
            }
        }

        public override async ValueTask DisposeAsync()
        {
            await LeaseGrants.RevokeQuietlyAsync(leases, _leaseId);
            await base.DisposeAsync();
        }
    }

    private ByteString MutexName => name;

    private long Ttl => ttlSeconds;
}
