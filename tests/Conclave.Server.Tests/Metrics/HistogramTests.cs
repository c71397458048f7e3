using System.Text;
using Conclave.Server.Metrics;

namespace Conclave.Server.Tests.Metrics;

public sealed class HistogramTests
{
    private static readonly double[] Bounds = [0.001, 0.002, 0.004];

    [Fact]
    public void A_duration_equal_to_a_bound_lands_in_that_bucket_and_one_tick_more_in_the_next()
    {
        var histogram = new Histogram(Bounds);
        var oneMs = TimeSpan.FromMilliseconds(1);
        var fourMs = TimeSpan.FromMilliseconds(4);

        histogram.Observe(TimeSpan.Zero);
        histogram.Observe(oneMs);
        histogram.Observe(oneMs + TimeSpan.FromTicks(1));
        histogram.Observe(fourMs);
        histogram.Observe(fourMs + TimeSpan.FromTicks(1));
        histogram.Observe(TimeSpan.FromTicks(-5));

        var snapshot = histogram.Snapshot();
        Assert.Equal([3L, 4L, 5L, 6L], snapshot.CumulativeCounts);
        Assert.Equal(6, snapshot.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(10) + TimeSpan.FromTicks(2), snapshot.Sum);
    }

    [Fact]
    public void Text_output_has_cumulative_buckets_ending_with_Inf_then_sum_and_count()
    {
        var histogram = new Histogram(Bounds);
        histogram.Observe(TimeSpan.FromMilliseconds(0.5));
        histogram.Observe(TimeSpan.FromMilliseconds(3));
        histogram.Observe(TimeSpan.FromMilliseconds(3.5));
        histogram.Observe(TimeSpan.FromSeconds(2));
        var text = new StringBuilder();

        Histogram.WriteHeader(text, "x_seconds", "Help text.");
        histogram.WriteTo(text, "x_seconds", "stage=\"a\"");
        new Histogram(Bounds).WriteTo(text, "y_seconds", "");

        Assert.Equal(
            """
            # HELP x_seconds Help text.
            # TYPE x_seconds histogram
            x_seconds_bucket{stage="a",le="0.001"} 1
            x_seconds_bucket{stage="a",le="0.002"} 1
            x_seconds_bucket{stage="a",le="0.004"} 3
            x_seconds_bucket{stage="a",le="+Inf"} 4
            x_seconds_sum{stage="a"} 2.007
            x_seconds_count{stage="a"} 4
            y_seconds_bucket{le="0.001"} 0
            y_seconds_bucket{le="0.002"} 0
            y_seconds_bucket{le="0.004"} 0
            y_seconds_bucket{le="+Inf"} 0
            y_seconds_sum 0
            y_seconds_count 0

            """.ReplaceLineEndings("\n"),
            text.ToString());
    }

    [Fact]
    public void Exponential_bounds_print_as_etcd_prints_its_wal_fsync_buckets()
    {
        var text = new StringBuilder();

        new Histogram(Histogram.ExponentialBounds(0.001, 2, 14)).WriteTo(text, "w", "");

        var les = text.ToString().Split('\n')
            .Where(l => l.StartsWith("w_bucket", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf('"', StringComparison.Ordinal) + 1)..l.LastIndexOf('"')]);
        Assert.Equal(
            ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"],
            les);
    }

    [Fact]
    public void Buckets_match_a_naive_count_for_random_durations()
    {
        var random = new Random(20261126);
        var bounds = Histogram.ExponentialBounds(0.0001, 2, 18);
        var histogram = new Histogram(bounds);
        var observed = new List<TimeSpan>();
        for (var i = 0; i < 5000; i++)
        {
            // Mostly on or next to a bound (the edge cases), the rest anywhere up to 20 s.
            var ticks = random.Next(3) switch
            {
                0 => (long)Math.Round(bounds[random.Next(bounds.Length)] * TimeSpan.TicksPerSecond) + random.Next(-1, 2),
                _ => random.NextInt64(0, 20 * TimeSpan.TicksPerSecond),
            };
            observed.Add(TimeSpan.FromTicks(ticks));
            histogram.Observe(TimeSpan.FromTicks(ticks));
        }

        var snapshot = histogram.Snapshot();

        var expected = bounds.Select(b => (long)observed.Count(d => d.Ticks <= (long)Math.Round(b * TimeSpan.TicksPerSecond))).Append(observed.Count);
        Assert.Equal(expected, snapshot.CumulativeCounts);
        Assert.Equal(observed.Sum(d => d.Ticks), snapshot.Sum.Ticks);
    }

    [Fact]
    public async Task Concurrent_observations_are_all_counted()
    {
        const int Threads = 4;
        const int PerThread = 50_000;
        var histogram = new Histogram(Bounds);
        using var start = new Barrier(Threads);

        var workers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
            {
                // Thread t observes t ms each time: buckets 0.001 (t = 0, 1), 0.002, 0.004 (t = 3).
                histogram.Observe(TimeSpan.FromMilliseconds(t));
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));

        var snapshot = histogram.Snapshot();
        Assert.Equal([2L * PerThread, 3L * PerThread, 4L * PerThread, 4L * PerThread], snapshot.CumulativeCounts);
        Assert.Equal(TimeSpan.FromMilliseconds(PerThread * (0 + 1 + 2 + 3)), snapshot.Sum);
    }

    [Fact]
    public void Observe_allocates_nothing()
    {
        var histogram = new Histogram(Histogram.ExponentialBounds(0.0001, 2, 18));
        histogram.Observe(TimeSpan.FromMilliseconds(1));

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            histogram.Observe(TimeSpan.FromTicks(i * 997));
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData(new[] { 0.001, 0.001 })]
    [InlineData(new[] { 0.002, 0.001 })]
    [InlineData(new[] { 0.0 })]
    [InlineData(new[] { double.PositiveInfinity })]
    public void Bounds_must_be_positive_finite_and_increasing(double[] bounds)
    {
        var e = Assert.Throws<ArgumentException>(() => new Histogram(bounds));
        Assert.StartsWith("metrics: histogram bounds must be", e.Message, StringComparison.Ordinal);
    }
}
