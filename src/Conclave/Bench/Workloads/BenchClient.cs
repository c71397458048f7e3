namespace Conclave.Bench.Workloads;

/// <summary>
/// One load client: runs one operation at a time. An operation that fails with an
/// <see cref="Grpc.Core.RpcException"/> or a <see cref="BenchOperationException"/> is counted as an
/// error of its series; any other exception is a bug and ends the run.
/// </summary>
public abstract class BenchClient : IAsyncDisposable
{
    /// <summary>Per-client state the operations need (a lease, a stream); runs before the clock starts.</summary>
    public virtual Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Which series (index into <see cref="IWorkload.OperationSeries"/>) the next operation belongs to.</summary>
    public virtual int NextSeries() => 0;

    /// <param name="series">What <see cref="NextSeries"/> returned.</param>
    /// <param name="operation">0-based operation number over all clients.</param>
    public abstract Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken);

    /// <summary>Releases server-side state (leases, streams). Must not throw on an unreachable server.</summary>
    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>An operation that got an answer the workload counts as a failure (e.g. an unknown lease).</summary>
public sealed class BenchOperationException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
