using System.Collections.Concurrent;
using System.Diagnostics;
using HdrHistogram;

namespace Conclave.Bench;

/// <summary>
/// One named series of measurements (e.g. "put", or "read" and "write" in the mixed
/// workload): a latency histogram of successful operations and error counts by code.
/// Safe to record from many threads.
/// </summary>
public sealed class SeriesRecorder(string name)
{
    /// <summary>Latencies are recorded in microseconds, up to one hour, with 3 significant digits.</summary>
    private const long HighestMicroseconds = 3_600_000_000;

    private readonly LongConcurrentHistogram _histogram = new(1, HighestMicroseconds, 3);
    private readonly ConcurrentDictionary<string, long> _errors = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _firstMessages = new(StringComparer.Ordinal);

    public string Name { get; } = name;

    public long Count => _histogram.TotalCount;

    public long ErrorCount => _errors.Values.Sum();

    /// <summary>Records a success that took from <paramref name="startTimestamp"/> to <paramref name="endTimestamp"/> (Stopwatch).</summary>
    public void Record(long startTimestamp, long endTimestamp)
    {
        var microseconds = Stopwatch.GetElapsedTime(startTimestamp, endTimestamp).Ticks / TimeSpan.TicksPerMicrosecond;
        _histogram.RecordValue(Math.Clamp(microseconds, 1, HighestMicroseconds));
    }

    /// <summary>Counts <paramref name="count"/> failures with <paramref name="code"/> (a gRPC status code name or a bench code); keeps the first message per code.</summary>
    public void Error(string code, string message, long count = 1)
    {
        _errors.AddOrUpdate(code, count, (_, c) => c + count);
        _firstMessages.TryAdd(code, message);
    }

    public SeriesReport Report(TimeSpan elapsed)
    {
        double Milliseconds(long microseconds) => Math.Round(microseconds / 1000.0, 3);
        var count = _histogram.TotalCount;
        var latency = count == 0
            ? new LatencyReport(0, 0, 0, 0, 0, 0)
            : new LatencyReport(
                Mean: Math.Round(_histogram.GetMean() / 1000.0, 3),
                P50: Milliseconds(_histogram.GetValueAtPercentile(50)),
                P90: Milliseconds(_histogram.GetValueAtPercentile(90)),
                P99: Milliseconds(_histogram.GetValueAtPercentile(99)),
                P999: Milliseconds(_histogram.GetValueAtPercentile(99.9)),
                Max: Milliseconds(_histogram.GetMaxValue()));
        var seconds = elapsed.TotalSeconds;
        return new SeriesReport(
            Name,
            count,
            ErrorCount,
            seconds > 0 ? Math.Round(count / seconds, 1) : 0,
            latency,
            new SortedDictionary<string, long>(_errors, StringComparer.Ordinal),
            new SortedDictionary<string, string>(_firstMessages, StringComparer.Ordinal));
    }
}
