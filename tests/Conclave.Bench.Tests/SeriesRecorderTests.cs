using System.Diagnostics;

namespace Conclave.Bench.Tests;

public sealed class SeriesRecorderTests
{
    private static readonly long TicksPerMillisecond = Stopwatch.Frequency / 1000;

    [Fact]
    public void Percentiles_and_throughput_come_from_the_recorded_latencies()
    {
        var series = new SeriesRecorder("put");
        // 1..1000 ms, one each.
        for (var ms = 1; ms <= 1000; ms++)
        {
            series.Record(0, ms * TicksPerMillisecond);
        }

        var report = series.Report(TimeSpan.FromSeconds(4));

        Assert.Equal(1000, report.Count);
        Assert.Equal(250, report.OpsPerSecond);
        // HdrHistogram with 3 significant digits: each value within 0.1 %.
        Assert.InRange(report.LatencyMs.P50, 499.5, 501);
        Assert.InRange(report.LatencyMs.P90, 899, 901);
        Assert.InRange(report.LatencyMs.P99, 989, 991);
        Assert.InRange(report.LatencyMs.P999, 998, 1000);
        Assert.InRange(report.LatencyMs.Max, 999, 1001);
        Assert.InRange(report.LatencyMs.Mean, 500, 501.5);
    }

    [Fact]
    public void Errors_are_counted_by_code_with_the_first_message_kept()
    {
        var series = new SeriesRecorder("put");
        series.Error("Unavailable", "first");
        series.Error("Unavailable", "second");
        series.Error("NotDelivered", "missing", count: 5);

        var report = series.Report(TimeSpan.FromSeconds(1));

        Assert.Equal(0, report.Count);
        Assert.Equal(7, report.ErrorCount);
        Assert.Equal(2, report.Errors["Unavailable"]);
        Assert.Equal(5, report.Errors["NotDelivered"]);
        Assert.Equal("first", report.ErrorMessages["Unavailable"]);
        Assert.Equal(new LatencyReport(0, 0, 0, 0, 0, 0), report.LatencyMs);
    }
}
