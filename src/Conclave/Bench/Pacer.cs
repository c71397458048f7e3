using System.Diagnostics;

namespace Conclave.Bench;

/// <summary>
/// Open-loop pacing: operation n (0-based, over all clients) is due at
/// start + n / rate. A client that is late starts at once; it never waits to catch up with
/// a schedule it already missed. Times are <see cref="Stopwatch"/> timestamps.
/// </summary>
public sealed class Pacer
{
    private readonly long _start;
    private readonly double _ticksPerOperation;

    /// <param name="rate">Operations per second, positive.</param>
    /// <param name="start">Stopwatch timestamp of operation 0.</param>
    public Pacer(double rate, long start)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        _start = start;
        _ticksPerOperation = Stopwatch.Frequency / rate;
    }

    public long DueTimestamp(long operation) => _start + (long)(operation * _ticksPerOperation);

    /// <summary>How long to wait, at <paramref name="now"/>, before starting the operation; zero when due.</summary>
    public TimeSpan Delay(long operation, long now)
    {
        var ticks = DueTimestamp(operation) - now;
        return ticks <= 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, ticks);
    }
}
