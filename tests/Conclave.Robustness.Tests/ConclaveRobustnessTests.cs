using Conclave.Robustness.Cluster;
using Xunit.Abstractions;

namespace Conclave.Robustness.Tests;

/// <summary>
/// Runs against the conclave.dll that `./test.sh` builds (Release) or CONCLAVE_DLL. Outside CI a
/// missing build skips with the command that makes one; under CI=true it fails the test instead.
/// </summary>
public sealed class ConclaveServeFactAttribute : FactAttribute
{
    public ConclaveServeFactAttribute()
    {
        var dll = ConclaveCluster.DllPath;
        if (!File.Exists(dll) && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = $"{dll} does not exist (dotnet build src/Conclave -c Release, or set CONCLAVE_DLL); under CI=true this test fails instead";
        }
    }
}

public sealed class ConclaveRobustnessTests(ITestOutputHelper output)
{
    [ConclaveServeFact]
    public async Task A_short_run_against_three_conclave_members_reports_no_violations()
    {
        Assert.True(File.Exists(ConclaveCluster.DllPath), $"{ConclaveCluster.DllPath} does not exist: build it with dotnet build src/Conclave -c Release");
        var options = new RunOptions { Target = TargetKind.Conclave, Members = 3, Duration = TimeSpan.FromSeconds(30), Seed = 3 };
        var report = await RobustnessRun.RunAsync(options, output.WriteLine);
        output.WriteLine(report.Summary());
        Assert.True(report.Passed, $"{string.Join('\n', report.Violations)}\nhistory: {report.FailureFolder}\nreproduce: {options.ReproduceCommand}");
        Assert.True(report.Acknowledged > 100, $"expected a working workload, got {report.Summary()}");
    }
}
