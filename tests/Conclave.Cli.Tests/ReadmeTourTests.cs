using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Conclave.Cli.Tests;

/// <summary>
/// Runs the README's "## Tour" bash block as written, with `conclave` on PATH as the real
/// executable: a 3-member dev-cluster, keys, watch, lock, elect, service. The README is the
/// source; this test only adds `set -euo pipefail` and a trap that stops leftover jobs.
/// </summary>
public sealed partial class ReadmeTourTests
{
    [Fact]
    public async Task The_readme_tour_runs_against_a_dev_cluster()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "README.md"));
        var tour = TourBlock().Match(readme);
        Assert.True(tour.Success, "README.md has no ```bash block under ## Tour");
        var script = tour.Groups[1].Value;

        var directory = Directory.CreateTempSubdirectory("conclave-tour-");
        try
        {
            var bin = Shim.Create(directory.FullName);
            var path = Path.Combine(directory.FullName, "tour.sh");
            await File.WriteAllTextAsync(path, "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n" + script);

            var start = new ProcessStartInfo("bash", [path])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = directory.FullName,
            };
            start.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
            start.Environment.Remove("CONCLAVE_ENDPOINTS");
            using var bash = Process.Start(start)!;
            var stdout = bash.StandardOutput.ReadToEndAsync();
            var stderr = bash.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            try
            {
                await bash.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                bash.Kill(entireProcessTree: true);
                Assert.Fail($"the README tour did not finish within 4 minutes\n{await stdout}\n{await stderr}");
            }
            var output = await stdout;
            var errors = await stderr;
            Assert.True(bash.ExitCode == 0, $"the README tour failed (exit {bash.ExitCode})\n--- stdout ---\n{output}\n--- stderr ---\n{errors}");
            Assert.Contains("CONCLAVE_ENDPOINTS=127.0.0.1:23790,127.0.0.1:23791,127.0.0.1:23792", output);
            Assert.Contains("\"value\":\"world\"", output);
            Assert.Contains("= hello", output);
            Assert.Contains("deploying while holding deploy/", output);
            Assert.Contains("node-1", output);
            Assert.Contains("10.0.0.5", output);
            Assert.DoesNotContain("   at ", output + errors);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [GeneratedRegex(@"## Tour\n.*?```bash\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex TourBlock();
}
