using System.Diagnostics;
using System.Text;

namespace Conclave.Client.Tests;

/// <summary>
/// tests/Conclave.Client.TestApp as a child process (`dotnet Conclave.Client.TestApp.dll ...`):
/// a client in another process that the test can kill -9. Its output lines can be awaited.
/// Disposing closes its stdin (an orderly stop) and kills it if it is still running.
/// </summary>
public sealed class TestAppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stderr = new();
    private readonly List<(string Prefix, TaskCompletionSource<string> Seen)> _waiters = [];

    private TestAppProcess(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Conclave.Client.TestApp.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_lines)
            {
                _stderr.AppendLine(e.Data);
            }
        };
    }

    /// <summary>`campaign ENDPOINTS TTL NAME VALUE` or `register ENDPOINTS TTL SERVICE ID PORT` (see the TestApp).</summary>
    public static TestAppProcess Start(string command, IReadOnlyList<string> endpoints, long ttlSeconds, params string[] rest)
    {
        var app = new TestAppProcess([command, string.Join(',', endpoints), ttlSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), .. rest]);
        app._process.Start();
        app._process.BeginOutputReadLine();
        app._process.BeginErrorReadLine();
        return app;
    }

    public int Id => _process.Id;

    /// <summary>The first output line starting with <paramref name="prefix"/> (already printed or still to come).</summary>
    public Task<string> WaitForLineAsync(string prefix)
    {
        lock (_lines)
        {
            if (_lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) is { } line)
            {
                return Task.FromResult(line);
            }
            var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((prefix, seen));
            return WithExitCheckAsync(seen.Task, prefix);
        }
    }

    private async Task<string> WithExitCheckAsync(Task<string> seen, string prefix)
    {
        var exited = _process.WaitForExitAsync();
        if (await Task.WhenAny(seen, exited) == seen)
        {
            return await seen;
        }
        // WaitForExitAsync also waits for the redirected output to end, so every line was seen.
        return seen.IsCompleted
            ? await seen
            : throw new InvalidOperationException($"the test app exited ({_process.ExitCode}) before printing \"{prefix}\"; output: {Output}");
    }

    /// <summary>Everything it printed, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines) + "\n--- stderr ---\n" + _stderr;
            }
        }
    }

    /// <summary>kill -9 (SIGKILL): the process gets no chance to revoke its lease.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lines)
        {
            _lines.Add(line);
            foreach (var waiter in _waiters.Where(w => line.StartsWith(w.Prefix, StringComparison.Ordinal)).ToList())
            {
                waiter.Seen.TrySetResult(line);
                _waiters.Remove(waiter);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await _process.WaitForExitAsync(grace.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
        catch (IOException)
        {
            // stdin already broken: the process is gone or going.
        }
        finally
        {
            await KillAsync();
            _process.Dispose();
        }
    }
}
