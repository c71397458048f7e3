namespace Conclave.Bench.Workloads;

/// <summary>
/// One kind of load. The runner calls, in order: <see cref="SetupAsync"/> once,
/// <see cref="CreateClient"/> and <see cref="BenchClient.StartAsync"/> for each load client,
/// the clients' operations until the run is bounded, then <see cref="FinishAsync"/> once,
/// and disposes the clients.
/// </summary>
public interface IWorkload
{
    /// <summary>The workload's name as given on the command line (e.g. "txn-put").</summary>
    string Name { get; }

    /// <summary>
    /// The series the load clients' operations are recorded in; <see cref="BenchClient.NextSeries"/>
    /// returns an index into this list.
    /// </summary>
    IReadOnlyList<string> OperationSeries { get; }

    /// <summary>Workload-specific settings, for the report.</summary>
    IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>Prepares shared state (e.g. opens watch streams) before any operation starts.</summary>
    Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken);

    /// <param name="index">0-based client number; the client may seed its Random with settings seed + index.</param>
    BenchClient CreateClient(int index, BenchConnections connections);

    /// <summary>
    /// Called after the last operation completed (also after Ctrl-C, with a cancelled token).
    /// Returns the series measured outside the load clients' operations (none for most workloads).
    /// </summary>
    Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken);
}
