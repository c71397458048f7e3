using System.Diagnostics;
using Conclave.Robustness.Cluster;
using Xunit.Abstractions;

namespace Conclave.Robustness.Tests;

/// <summary>
/// Skipped (also under CI, for now) unless conclave.dll exists and `dotnet conclave.dll serve --help`
/// exits 0: the server is still being written. The lead turns it on by removing the skip when it lands.
/// </summary>
public sealed class ConclaveServeFactAttribute : FactAttribute
{
    public ConclaveServeFactAttribute()
    {
        var dll = ConclaveCluster.DllPath;
        if (!File.Exists(dll))
        {
            Skip = $"{dll} does not exist (dotnet build src/Conclave -c Release, or set CONCLAVE_DLL); skipped even under CI until the server lands";
            return;
        }

        var startInfo = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])[dll, "serve", "--help"])
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        if (!process.WaitForExit(30_000) || process.ExitCode != 0)
        {
            Skip = $"`dotnet {dll} serve --help` did not succeed; skipped even under CI until the server lands";
        }
    }
}

public sealed class ConclaveRobustnessTests(ITestOutputHelper output)
{
    [ConclaveServeFact]
    public async Task A_short_run_against_three_conclave_members_reports_no_violations()
    {
        var options = new RunOptions { Target = TargetKind.Conclave, Members = 3, Duration = TimeSpan.FromSeconds(30), Seed = 3 };
        var report = await RobustnessRun.RunAsync(options, output.WriteLine);
        output.WriteLine(report.Summary());
        Assert.True(report.Passed, $"{string.Join('\n', report.Violations)}\nhistory: {report.FailureFolder}\nreproduce: {options.ReproduceCommand}");
        Assert.True(report.Acknowledged > 100, $"expected a working workload, got {report.Summary()}");
    }
}
