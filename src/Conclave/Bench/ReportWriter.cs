using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Conclave.Bench;

/// <summary>Prints a <see cref="BenchReport"/> as indented JSON or as tables.</summary>
public static class ReportWriter
{
    public static void Write(BenchReport report, BenchOutput format, TextWriter output)
    {
        if (format == BenchOutput.Json)
        {
            output.WriteLine(JsonSerializer.Serialize(report, BenchJsonContext.Default.BenchReport));
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        if (!console.Profile.Capabilities.Interactive || console.Profile.Width < 120)
        {
            console.Profile.Width = Math.Max(console.Profile.Width, 120);
        }
        var bound = report.Total is { } total ? $"total {total}" : $"duration {report.DurationSeconds:0.###} s";
        var rate = report.Rate is { } r ? $", rate {r.ToString(CultureInfo.InvariantCulture)}/s" : "";
        console.MarkupLine(Markup.Escape(
            $"{report.Workload} against {string.Join(",", report.Endpoints)}: {report.Clients} clients, {report.Conns} conns, {bound}{rate}, " +
            $"{report.ElapsedSeconds:0.###} s{(report.Interrupted ? " (interrupted)" : "")}"));
        if (report.Parameters.Count > 0)
        {
            console.MarkupLine(Markup.Escape(string.Join(" ", report.Parameters.Select(p => $"--{p.Key} {p.Value}"))));
        }

        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumns("series", "ok", "errors", "ops/s", "mean ms", "p50", "p90", "p99", "p99.9", "max");
        foreach (var column in table.Columns.Skip(1))
        {
            column.RightAligned();
        }
        foreach (var series in report.Series)
        {
            var l = series.LatencyMs;
            table.AddRow(
                Markup.Escape(series.Name), N(series.Count), N(series.ErrorCount), F(series.OpsPerSecond, "0.0"),
                F(l.Mean), F(l.P50), F(l.P90), F(l.P99), F(l.P999), F(l.Max));
        }
        console.Write(table);

        var errors = report.Series.SelectMany(s => s.Errors.Select(e => (Series: s.Name, Code: e.Key, Count: e.Value, Message: s.ErrorMessages.GetValueOrDefault(e.Key, "")))).ToList();
        if (errors.Count > 0)
        {
            var errorTable = new Table().Border(TableBorder.Rounded).Title("errors");
            errorTable.AddColumns("series", "code", "count", "first message");
            foreach (var e in errors)
            {
                errorTable.AddRow(Markup.Escape(e.Series), Markup.Escape(e.Code), N(e.Count), Markup.Escape(e.Message));
            }
            console.Write(errorTable);
        }
        var c = report.Client;
        console.MarkupLine(Markup.Escape(
            $"client: cpu {c.CpuSeconds:0.##} s, gc pauses {c.GcPauseMs:0.#} ms, collections gen0/1/2 {c.Gen0Collections}/{c.Gen1Collections}/{c.Gen2Collections}"));
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string F(double value, string format = "0.000") => value.ToString(format, CultureInfo.InvariantCulture);
}
