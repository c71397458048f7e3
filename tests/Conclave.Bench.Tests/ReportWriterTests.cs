using System.Text.Json;

namespace Conclave.Bench.Tests;

public sealed class ReportWriterTests
{
    private static readonly BenchReport Report = new(
        "mixed", ["127.0.0.1:2379"], 4, 2, 100, null, null, "send", 1.5, false,
        [
            new SeriesReport("read", 60, 0, 40, new LatencyReport(1, 0.9, 1.5, 2, 3, 4), new Dictionary<string, long>(), new Dictionary<string, string>()),
            new SeriesReport("write", 38, 2, 25.3, new LatencyReport(2, 1.9, 2.5, 3, 4, 5),
                new Dictionary<string, long> { ["Unavailable"] = 2 }, new Dictionary<string, string> { ["Unavailable"] = "etcdserver: leader changed" }),
        ],
        new Dictionary<string, string> { ["read-ratio"] = "0.6" },
        new ClientReport(0.5, 1.2, 3, 1, 0));

    [Fact]
    public void The_table_shows_each_series_and_each_error_code()
    {
        var output = new StringWriter();

        ReportWriter.Write(Report, BenchOutput.Table, output);

        var text = output.ToString();
        Assert.Contains("mixed against 127.0.0.1:2379: 4 clients, 2 conns, total 100", text);
        Assert.Contains("--read-ratio 0.6", text);
        Assert.Matches(@"read\s*│\s*60\s*│\s*0\s*│\s*40\.0", text);
        Assert.Matches(@"write\s*│\s*38\s*│\s*2\s*│\s*25\.3", text);
        Assert.Matches(@"Unavailable\s*│\s*2\s*│\s*etcdserver: leader changed", text);
    }

    [Fact]
    public void Json_round_trips_with_camel_case_names()
    {
        var output = new StringWriter();

        ReportWriter.Write(Report, BenchOutput.Json, output);

        var json = output.ToString();
        Assert.Contains("\"opsPerSecond\": 25.3", json);
        Assert.Contains("\"p999\": 4", json);
        var back = JsonSerializer.Deserialize(json, BenchJsonContext.Default.BenchReport)!;
        Assert.Equal(Report.Series[1].Errors, back.Series[1].Errors);
        Assert.Equal(Report.Series[0].LatencyMs, back.Series[0].LatencyMs);
        Assert.Equal(Report.Client, back.Client);
    }
}
