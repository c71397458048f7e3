using System.Diagnostics;
using System.Text;

namespace Conclave.Testing.Etcd;

/// <summary>Runs an external command to completion, capturing stdout and stderr.</summary>
public static class ToolProcess
{
    /// <summary>
    /// Starts <paramref name="fileName"/> with <paramref name="arguments"/> (passed as an
    /// argument list, no shell), writes <paramref name="stdin"/> (if any) and closes stdin, and
    /// waits for exit. <paramref name="environment"/> entries are set (a null value removes
    /// the variable). After <paramref name="timeout"/> the process tree is killed and a
    /// <see cref="TimeoutException"/> says what was running and what it had printed.
    /// </summary>
    public static async Task<ToolResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? stdin = null,
        CancellationToken cancellationToken = default)
    {
        var startInfo = CreateStartInfo(fileName, arguments, environment);
        var commandLine = DescribeCommand(startInfo);

        using var process = Process.Start(startInfo)
            ?? throw new InvalidOperationException($"could not start `{commandLine}`");
        var stdoutTask = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderrTask = process.StandardError.ReadToEndAsync(CancellationToken.None);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin.AsMemory(), cancellationToken);
        }
        process.StandardInput.Close();

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            var partialOut = await stdoutTask;
            var partialErr = await stderrTask;
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"`{commandLine}` did not exit within {timeout.TotalSeconds:0.#} s; killed.\n" +
                $"--- stdout ---\n{partialOut}\n--- stderr ---\n{partialErr}");
        }
        return new ToolResult(commandLine, process.ExitCode, await stdoutTask, await stderrTask);
    }

    private static ProcessStartInfo CreateStartInfo(
        string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }
        if (environment is not null)
        {
            foreach (var (name, value) in environment)
            {
                if (value is null)
                {
                    startInfo.Environment.Remove(name);
                }
                else
                {
                    startInfo.Environment[name] = value;
                }
            }
        }
        return startInfo;
    }

    private static string DescribeCommand(ProcessStartInfo startInfo) =>
        string.Join(' ', startInfo.ArgumentList.Prepend(startInfo.FileName).Select(Quote));

    private static string Quote(string argument) =>
        argument.Length > 0 && !argument.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '\\')
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>
    /// Like <see cref="RunAsync"/>, for commands that do not exit by themselves (etcdctl watch,
    /// elect -l): after each line of stdout, <paramref name="isComplete"/> is asked about all
    /// stdout so far; once it returns true the process tree is killed and the result has
    /// <see cref="ToolResult.StoppedWhenComplete"/> set. A process that exits first returns its
    /// own exit code; one that neither completes nor exits within <paramref name="timeout"/>
    /// gives a <see cref="TimeoutException"/> with what it printed.
    /// </summary>
    public static async Task<ToolResult> RunUntilAsync(
        string fileName,
        IEnumerable<string> arguments,
        Func<string, bool> isComplete,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var startInfo = CreateStartInfo(fileName, arguments, environment);
        var commandLine = DescribeCommand(startInfo);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            string soFar;
            lock (stdout)
            {
                stdout.Append(e.Data).Append('\n');
                soFar = stdout.ToString();
            }
            if (isComplete(soFar))
            {
                completed.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.Append(e.Data).Append('\n');
                }
            }
        };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        var exited = process.WaitForExitAsync(timeoutSource.Token);
        var stopped = false;
        try
        {
            var first = await Task.WhenAny(completed.Task, exited);
            await first;
            stopped = first == completed.Task;
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"`{commandLine}` neither produced the expected output nor exited within {timeout.TotalSeconds:0.#} s; killed.\n" +
                $"--- stdout ---\n{Snapshot(stdout)}\n--- stderr ---\n{Snapshot(stderr)}");
        }
        if (stopped)
        {
            Kill(process);
        }
        else
        {
            // Exited by itself: let the reader drain the last lines.
            process.WaitForExit();
        }
        return new ToolResult(commandLine, process.ExitCode, Snapshot(stdout), Snapshot(stderr))
        {
            StoppedWhenComplete = stopped,
        };
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        process.WaitForExit();
    }

    private static string Snapshot(StringBuilder builder)
    {
        lock (builder)
        {
            return builder.ToString();
        }
    }
}
