using System.Text.Json;
using System.Text.Json.Serialization;

namespace Conclave.Bench;

/// <summary>
/// The result of one run, as `--output json` prints it. All latencies are milliseconds;
/// throughput is successful operations per second of <see cref="ElapsedSeconds"/>.
/// </summary>
/// <param name="Series">The first series is the operations the load clients issued (count +
/// errors = operations issued); workloads add series measured another way (watch: "event").</param>
/// <param name="LatencyFrom">"send": latency runs from the moment an operation was sent;
/// "schedule" (runs with a rate): from the moment it was due, so a client that falls behind
/// the rate shows it as latency. Watch events are always measured from the put's send.</param>
/// <param name="Interrupted">True when Ctrl-C stopped the run; operations in flight then are not counted.</param>
public sealed record BenchReport(
    string Workload,
    IReadOnlyList<string> Endpoints,
    int Clients,
    int Conns,
    long? Total,
    double? DurationSeconds,
    double? Rate,
    string LatencyFrom,
    double ElapsedSeconds,
    bool Interrupted,
    IReadOnlyList<SeriesReport> Series,
    IReadOnlyDictionary<string, string> Parameters,
    ClientReport Client);

/// <param name="Count">Successful operations.</param>
/// <param name="Errors">Failed operations by code: a gRPC status code name, or a bench code
/// (e.g. "NotDelivered" for watch events that never arrived).</param>
/// <param name="ErrorMessages">The first message seen for each error code.</param>
public sealed record SeriesReport(
    string Name,
    long Count,
    long ErrorCount,
    double OpsPerSecond,
    LatencyReport LatencyMs,
    IReadOnlyDictionary<string, long> Errors,
    IReadOnlyDictionary<string, string> ErrorMessages);

public sealed record LatencyReport(double Mean, double P50, double P90, double P99, double P999, double Max);

/// <summary>The load generator's own costs, to tell a slow server from a saturated client.</summary>
public sealed record ClientReport(double CpuSeconds, double GcPauseMs, int Gen0Collections, int Gen1Collections, int Gen2Collections);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(BenchReport))]
public sealed partial class BenchJsonContext : JsonSerializerContext;
