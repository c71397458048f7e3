using System.CommandLine;
using System.Diagnostics;
using System.Text;

namespace Conclave.Cli.Tests;

/// <summary>The result of one `conclave ...` run.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs `conclave` either as the real executable (`dotnet conclave.dll ...`) or in process.</summary>
public static class Cli
{
    /// <summary>Longest one command may take before the test fails (they normally take well under a second).</summary>
    public static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    /// <summary>--timeout for commands that must succeed: generous, so a loaded machine does not fail them (no test measures time).</summary>
    public const string TestTimeout = "30s";

    public static string ConclaveDll => Path.Combine(AppContext.BaseDirectory, "conclave.dll");

    /// <summary>Starts `dotnet conclave.dll ARGS` with stdout/stderr captured; CONCLAVE_* variables of the test process are not inherited.</summary>
    public static Process Start(IEnumerable<string> args, IDictionary<string, string>? environment = null, bool redirectInput = false)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(ConclaveDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(n => n.StartsWith("CONCLAVE_", StringComparison.Ordinal)))
        {
            start.Environment.Remove(name);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }
        return Process.Start(start)!;
    }

    /// <summary>Runs the real executable to completion.</summary>
    public static async Task<CliResult> RunAsync(IEnumerable<string> args, string? stdin = null, IDictionary<string, string>? environment = null)
    {
        using var process = Start(args, environment, redirectInput: stdin is not null);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        using var timeout = new CancellationTokenSource(RunTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`conclave {string.Join(' ', args)}` did not exit within {RunTimeout}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(args, null, null);

    /// <summary>Runs `conclave ARGS` in this process (same parser and actions, output captured): cheaper than a process per call.</summary>
    public static async Task<CliResult> RunInProcessAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = await Program.InvokeAsync(args, new InvocationConfiguration { Output = output, Error = error }).WaitAsync(RunTimeout);
        return new CliResult(exitCode, output.ToString(), error.ToString());
    }
}
