using System.CommandLine;
using System.Text.Json;
using Conclave.Bench;

namespace Conclave.Bench.Tests;

/// <summary>Runs `conclave ...` in process with captured output, as the executable would.</summary>
internal static class Cli
{
    /// <summary>Longest a bench run in these tests may take before the test fails.</summary>
    public static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(2);

    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var run = Program.InvokeAsync(args, new InvocationConfiguration { Output = output, Error = error });
        int exitCode;
        try
        {
            exitCode = await run.WaitAsync(RunTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"`conclave {string.Join(' ', args)}` did not finish within {RunTimeout}; stderr so far:\n{error}");
        }
        return (exitCode, output.ToString(), error.ToString());
    }

    /// <summary>Runs a bench with `--output json --no-progress` and returns its report; fails unless it exits 0.</summary>
    public static async Task<BenchReport> BenchJsonAsync(params string[] args)
    {
        var (exitCode, output, error) = await RunAsync(["bench", .. args, "--output", "json", "--no-progress"]);
        Assert.True(exitCode == 0, $"conclave bench {string.Join(' ', args)} exited {exitCode}\nstderr: {error}\nstdout: {output}");
        var report = JsonSerializer.Deserialize(output, BenchJsonContext.Default.BenchReport);
        Assert.True(report is not null, $"not a bench report: {output}");
        return report!;
    }
}
