using System.Diagnostics;
using System.Runtime.InteropServices;
using Conclave.Testing.Processes;

namespace Conclave.Robustness.Cluster;

/// <summary>
/// One server process that can be killed, paused and started again with the same arguments.
/// Keeps the last lines of its output for failure reports.
/// </summary>
internal sealed partial class MemberProcess : IDisposable
{
    private const int LogLinesKept = 200;
    private const int SigStop = 19;
    private const int SigCont = 18;

    private readonly string _fileName;
    private readonly IReadOnlyList<string> _arguments;
    private readonly OutputLines _log = new(LogLinesKept);
    private readonly Lock _lock = new();
    private Process? _process;
    private bool _paused;

    public MemberProcess(string fileName, IReadOnlyList<string> arguments)
    {
        _fileName = fileName;
        _arguments = arguments;
    }

    public bool IsRunning
    {
        get
        {
            lock (_lock)
            {
                return _process is { HasExited: false };
            }
        }
    }

    public bool IsPaused
    {
        get
        {
            lock (_lock)
            {
                return _paused;
            }
        }
    }

    public string RecentLog => _log.ToString();

    /// <summary>Task completing when the current process exits (for start-up races).</summary>
    public Task Exited { get; private set; } = Task.CompletedTask;

    /// <summary>Environment variables every start sets (a null value removes the variable).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>
    /// Completes with the next output line (stdout or stderr) that <paramref name="match"/> accepts,
    /// from any later process of this member; cancelled with <paramref name="cancellationToken"/>.
    /// Register before causing the line, or it may be missed.
    /// </summary>
    public Task<string> NextLineAsync(Func<string, bool> match, CancellationToken cancellationToken) =>
        _log.NextAsync(match, cancellationToken);

    /// <summary>Starts the process unless it runs; <paramref name="environment"/> is set on top of <see cref="Environment"/> for this start only.</summary>
    public void Start(IReadOnlyDictionary<string, string?>? environment = null)
    {
        lock (_lock)
        {
            if (_process is { HasExited: false })
            {
                return;
            }

            _process?.Dispose();
            var startInfo = new ProcessStartInfo(_fileName)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in _arguments)
            {
                startInfo.ArgumentList.Add(argument);
            }

            // etcd reads ETCD_* variables as flags; the caller's environment must not change a member.
            // The same for Conclave's failpoints: only what the harness asks for is armed.
            foreach (var variable in startInfo.Environment.Keys.Where(k => k.StartsWith("ETCD_", StringComparison.Ordinal) || k == "CONCLAVE_FAILPOINTS").ToList())
            {
                startInfo.Environment.Remove(variable);
            }

            foreach (var (name, value) in Environment.Concat(environment ?? new Dictionary<string, string?>()))
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

            var process = new Process { StartInfo = startInfo };
            process.OutputDataReceived += (_, e) => _log.Add(e.Data);
            process.ErrorDataReceived += (_, e) => _log.Add(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _process = process;
            _paused = false;
            Exited = process.WaitForExitAsync();
            _log.Add($"--- started pid {process.Id} ---");
        }
    }

    /// <summary>kill -9 and wait for the exit. A paused process dies too (SIGKILL needs no SIGCONT).</summary>
    public async Task KillAsync()
    {
        Process? process;
        lock (_lock)
        {
            process = _process;
            _paused = false;
        }

        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void Pause() => Signal(SigStop, paused: true);

    public void Resume() => Signal(SigCont, paused: false);

    private void Signal(int signal, bool paused)
    {
        lock (_lock)
        {
            if (_process is not { HasExited: false } process || _paused == paused)
            {
                return;
            }

            if (Kill(process.Id, signal) != 0)
            {
                throw new InvalidOperationException($"robustness: kill({process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}");
            }

            _paused = paused;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_process is { } process)
            {
                try
                {
                    if (!process.HasExited)
                    {
                        process.Kill(entireProcessTree: true);
                        process.WaitForExit(10_000);
                    }
                }
                catch (InvalidOperationException)
                {
                }

                process.Dispose();
                _process = null;
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
