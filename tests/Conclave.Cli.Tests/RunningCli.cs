using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Conclave.Cli.Tests;

/// <summary>
/// A `conclave` command that keeps running (lock holder, campaigner, registration): its stdout
/// lines can be awaited; it is stopped with SIGTERM (as a service manager or `kill` would) and
/// always killed on dispose.
/// </summary>
public sealed class RunningCli : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Done)> _waiters = [];

    public RunningCli(params string[] args)
    {
        _process = Cli.Start(args);
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public Task ExitedAsync => _process.WaitForExitAsync();

    public int Pid => _process.Id;

    /// <summary>SIGKILL to this process only (not its children), as an OOM killer or `kill -9` would; waits for it to be gone.</summary>
    public async Task KillAloneAsync()
    {
        _process.Kill(entireProcessTree: false);
        using var timeout = new CancellationTokenSource(Cli.RunTimeout);
        await _process.WaitForExitAsync(timeout.Token);
    }

    /// <summary>Waits (at most <see cref="Cli.RunTimeout"/>) for the process to exit by itself and returns its code.</summary>
    public async Task<int> WaitForExitAsync(string what)
    {
        using var timeout = new CancellationTokenSource(Cli.RunTimeout);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"expected the process to exit: {what}\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        }
        // The asynchronous stdout/stderr readers have seen end of file once this returns.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>The first stdout line (already printed or still to come) that matches.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, string what)
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_stdout)
        {
            var seen = _stdout.ToString().Split('\n').FirstOrDefault(l => match(l.TrimEnd('\r')));
            if (seen is not null)
            {
                return seen;
            }
            _waiters.Add((match, done));
        }
        var finished = await Task.WhenAny(done.Task, _process.WaitForExitAsync(), Task.Delay(Cli.RunTimeout));
        if (finished != done.Task)
        {
            throw new TimeoutException($"expected {what} on stdout (process exited: {_process.HasExited})\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        }
        return await done.Task;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_stdout)
        {
            _stdout.AppendLine(line);
            foreach (var waiter in _waiters.Where(w => w.Match(line)).ToList())
            {
                waiter.Done.TrySetResult(line);
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>SIGTERM, then waits for a clean exit and returns its code.</summary>
    public async Task<int> TerminateAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(Cli.RunTimeout);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
