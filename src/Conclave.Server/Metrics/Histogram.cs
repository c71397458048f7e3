using System.Globalization;
using System.Text;

namespace Conclave.Server.Metrics;

/// <summary>
/// A Prometheus histogram of durations with fixed upper bounds. <see cref="Observe"/> is lock-free and
/// allocation-free (one interlocked add per bucket hit and one for the sum), so it may sit on every
/// request. Durations are kept in <see cref="TimeSpan"/> ticks (100 ns): an observation lands in the
/// first bucket whose bound it does not exceed (Prometheus' <c>le</c>, inclusive), or in +Inf.
/// A scrape reads the buckets one by one while others may still record, so <c>_sum</c> can lag or lead
/// the buckets by the observations in flight; <c>_count</c> is always the +Inf bucket.
/// </summary>
public sealed class Histogram
{
    private readonly long[] _boundTicks;
    private readonly string[] _boundLabels;

    // One slot per bound plus the last for +Inf; not cumulative (a scrape adds them up).
    private readonly long[] _counts;
    private long _sumTicks;

    /// <param name="upperBoundsSeconds">Strictly increasing, positive, finite upper bounds in seconds (+Inf is implicit).</param>
    public Histogram(IReadOnlyList<double> upperBoundsSeconds)
    {
        ArgumentNullException.ThrowIfNull(upperBoundsSeconds);
        _boundTicks = new long[upperBoundsSeconds.Count];
        _boundLabels = new string[upperBoundsSeconds.Count];
        for (var i = 0; i < upperBoundsSeconds.Count; i++)
        {
            var bound = upperBoundsSeconds[i];
            if (!double.IsFinite(bound) || bound <= 0 || (i > 0 && bound <= upperBoundsSeconds[i - 1]))
            {
                throw new ArgumentException($"metrics: histogram bounds must be positive, finite and strictly increasing; bound {i} is {bound}", nameof(upperBoundsSeconds));
            }
            _boundTicks[i] = (long)Math.Round(bound * TimeSpan.TicksPerSecond);
            _boundLabels[i] = bound.ToString("R", CultureInfo.InvariantCulture);
        }
        _counts = new long[_boundTicks.Length + 1];
    }

    /// <summary><paramref name="count"/> bounds: <paramref name="start"/>, start × factor, start × factor², … (Prometheus' ExponentialBuckets).</summary>
    public static double[] ExponentialBounds(double start, double factor, int count)
    {
        var bounds = new double[count];
        var bound = start;
        for (var i = 0; i < count; i++)
        {
            bounds[i] = bound;
            bound *= factor;
        }
        return bounds;
    }

    /// <summary>Records one duration; a negative one (a clock step) counts as zero.</summary>
    public void Observe(TimeSpan elapsed)
    {
        var ticks = Math.Max(0, elapsed.Ticks);
        var bucket = 0;
        while (bucket < _boundTicks.Length && ticks > _boundTicks[bucket])
        {
            bucket++;
        }
        Interlocked.Increment(ref _counts[bucket]);
        Interlocked.Add(ref _sumTicks, ticks);
    }

    /// <summary>The cumulative bucket counts (the last is +Inf, equal to the count) and the sum, read now.</summary>
    public HistogramSnapshot Snapshot()
    {
        var cumulative = new long[_counts.Length];
        long total = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            total += Volatile.Read(ref _counts[i]);
            cumulative[i] = total;
        }
        return new HistogramSnapshot(cumulative, TimeSpan.FromTicks(Interlocked.Read(ref _sumTicks)));
    }

    /// <summary>Appends the <c># HELP</c> and <c># TYPE</c> lines of a histogram family (once per name, before its series).</summary>
    public static void WriteHeader(StringBuilder text, string name, string help)
    {
        ArgumentNullException.ThrowIfNull(text);
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} histogram\n");
    }

    /// <summary>
    /// Appends this histogram's series: <c>name_bucket{labels,le="…"}</c> (cumulative, ending with
    /// <c>le="+Inf"</c>), <c>name_sum</c> in seconds and <c>name_count</c>. <paramref name="labels"/> is
    /// empty or the label pairs without braces, e.g. <c>stage="applied"</c>, already escaped.
    /// </summary>
    public void WriteTo(StringBuilder text, string name, string labels)
    {
        ArgumentNullException.ThrowIfNull(text);
        var snapshot = Snapshot();
        var prefix = labels.Length == 0 ? "" : labels + ",";
        for (var i = 0; i < _boundLabels.Length; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"{_boundLabels[i]}\"}} {snapshot.CumulativeCounts[i]}\n");
        }
        text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"+Inf\"}} {snapshot.Count}\n");
        var series = labels.Length == 0 ? "" : "{" + labels + "}";
        text.Append(CultureInfo.InvariantCulture, $"{name}_sum{series} {snapshot.Sum.TotalSeconds.ToString("R", CultureInfo.InvariantCulture)}\n");
        text.Append(CultureInfo.InvariantCulture, $"{name}_count{series} {snapshot.Count}\n");
    }
}

/// <summary>A histogram read at one moment: <see cref="CumulativeCounts"/> has one entry per bound and a last one for +Inf.</summary>
public sealed record HistogramSnapshot(IReadOnlyList<long> CumulativeCounts, TimeSpan Sum)
{
    public long Count => CumulativeCounts[^1];
}
