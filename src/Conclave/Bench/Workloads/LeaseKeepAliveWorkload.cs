using Conclave.Api.Etcd.Protocol;
using Grpc.Core;

namespace Conclave.Bench.Workloads;

/// <summary>
/// `lease-keepalive`: each client grants one lease of <paramref name="ttlSeconds"/> and opens one
/// LeaseKeepAlive stream; each operation is one keep-alive request and its response on that
/// stream. A response with TTL &lt;= 0 (the lease is gone) counts as error "LeaseNotFound". The
/// leases are revoked at the end.
/// </summary>
public sealed class LeaseKeepAliveWorkload(long ttlSeconds) : IWorkload
{
    public string Name => "lease-keepalive";

    public IReadOnlyList<string> OperationSeries { get; } = ["keepalive"];

    public IReadOnlyDictionary<string, string> Parameters => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["lease-ttl"] = ttlSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken) => Task.CompletedTask;

    public BenchClient CreateClient(int index, BenchConnections connections) =>
        new Client(new Lease.LeaseClient(connections.ForClient(index)), ttlSeconds);

    public Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SeriesRecorder>>([]);

    private sealed class Client(Lease.LeaseClient leases, long ttlSeconds) : BenchClient
    {
        private long _leaseId;
        private AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? _stream;

        public override async Task StartAsync(CancellationToken cancellationToken)
        {
            _leaseId = await LeaseGrants.GrantAsync(leases, ttlSeconds, cancellationToken);
            _stream = leases.LeaseKeepAlive();
        }

        public override async Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken)
        {
            // A stream that failed is replaced by a new one on the next operation.
            _stream ??= leases.LeaseKeepAlive();
            try
            {
                await _stream.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = _leaseId }, cancellationToken);
                if (!await _stream.ResponseStream.MoveNext(cancellationToken))
                {
                    throw new BenchOperationException("StreamEnded", "lease-keepalive: the server ended the keep-alive stream");
                }
            }
            catch
            {
                _stream.Dispose();
                _stream = null;
                throw;
            }
            if (_stream.ResponseStream.Current.TTL <= 0)
            {
                throw new BenchOperationException("LeaseNotFound", $"lease-keepalive: lease {_leaseId:x} has expired or was revoked");
            }
        }

        public override async ValueTask DisposeAsync()
        {
            _stream?.Dispose();
            await LeaseGrants.RevokeQuietlyAsync(leases, _leaseId);
            await base.DisposeAsync();
        }
    }
}

/// <summary>Lease grant and best-effort revoke shared by the workloads that hold leases.</summary>
internal static class LeaseGrants
{
    private static readonly TimeSpan RevokeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Grants a lease with a server-chosen id; throws <see cref="RpcException"/> on failure.</summary>
    public static async Task<long> GrantAsync(Lease.LeaseClient leases, long ttlSeconds, CancellationToken cancellationToken)
    {
        var grant = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds }, cancellationToken: cancellationToken);
        if (!string.IsNullOrEmpty(grant.Error))
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, grant.Error));
        }
        return grant.ID;
    }

    /// <summary>Revokes <paramref name="leaseId"/> (0: nothing to do); errors are ignored, the lease then expires by its TTL.</summary>
    public static async Task RevokeQuietlyAsync(Lease.LeaseClient leases, long leaseId)
    {
        if (leaseId == 0)
        {
            return;
        }
        try
        {
            await leases.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, deadline: DateTime.UtcNow + RevokeTimeout);
        }
        catch (RpcException)
        {
        }
    }
}
