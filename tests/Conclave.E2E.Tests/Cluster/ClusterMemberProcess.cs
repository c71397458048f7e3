using System.Diagnostics;
using Conclave.Testing.Etcd;
using Conclave.Testing.Processes;

namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// One member of a real-process cluster: `dotnet conclave.dll serve ARGS` that can be killed
/// (SIGKILL) and started again with the same arguments, so with the same ports and data dir.
/// Every output line is kept; <see cref="WaitForLineAsync"/> awaits a line (never polls).
/// </summary>
public sealed class ClusterMemberProcess : IAsyncDisposable
{
    private readonly IReadOnlyList<string> _arguments;
    private readonly OutputLines _lines = new();
    private readonly Lock _lock = new();
    private Process? _process;
    private TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ClusterMemberProcess(string name, int clientPort, int peerPort, int httpPort, IReadOnlyList<string> arguments)
    {
        Name = name;
        ClientPort = clientPort;
        PeerPort = peerPort;
        HttpPort = httpPort;
        _arguments = arguments;
    }

    public string Name { get; }

    public int ClientPort { get; }

    public int PeerPort { get; }

    public int HttpPort { get; }

    public string ClientUrl => $"http://127.0.0.1:{ClientPort}";

    public string PeerUrl => $"http://127.0.0.1:{PeerPort}";

    public string Endpoint => $"127.0.0.1:{ClientPort}";

    /// <summary>etcdctl against this member only.</summary>
    public Etcdctl Etcdctl() => new(Endpoint);

    /// <summary>Completes when the current process exits.</summary>
    public Task Exited => _exited.Task;

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

    /// <summary>How many output lines were seen so far (across restarts): a start point for <see cref="WaitForLineAsync"/>.</summary>
    public int LineCount => _lines.Count;

    /// <summary>Every output line so far, across restarts (each start is marked).</summary>
    public string Log => _lines.ToString();

    /// <summary>Starts the process; a no-op while it runs.</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_process is { HasExited: false })
            {
                return;
            }

            _process?.Dispose();
            var start = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add(ConclaveProcess.ConclaveDll);
            start.ArgumentList.Add("serve");
            foreach (var argument in _arguments)
            {
                start.ArgumentList.Add(argument);
            }

            foreach (var variable in start.Environment.Keys.Where(k => k.StartsWith("CONCLAVE_", StringComparison.Ordinal)).ToList())
            {
                start.Environment.Remove(variable);
            }

            var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var process = new Process { StartInfo = start, EnableRaisingEvents = true };
            process.OutputDataReceived += (_, e) => _lines.Add(e.Data);
            process.ErrorDataReceived += (_, e) => _lines.Add(e.Data);
            process.Exited += (_, _) => exited.TrySetResult();
            _lines.Add($"--- {Name}: starting `conclave serve {string.Join(' ', _arguments)}` ---");
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _process = process;
            _exited = exited;
        }
    }

    /// <summary>kill -9 (SIGKILL) and wait for the exit.</summary>
    public async Task KillAsync()
    {
        Process? process;
        lock (_lock)
        {
            process = _process;
        }

        if (process is null)
        {
            return;
        }

        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already exited
        }

        await process.WaitForExitAsync();
        _lines.Add($"--- {Name}: killed (SIGKILL) ---");
    }

    /// <summary>
    /// Waits for an output line from line number <paramref name="fromLine"/> on that matches;
    /// returns it. Throws with <paramref name="what"/> and the log when it does not come within
    /// <paramref name="timeout"/>.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, string what, TimeSpan timeout, int fromLine = 0)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            return await _lines.FirstAsync(match, fromLine, cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name}: expected {what} within {timeout.TotalSeconds:0} s\n--- log of {Name} ---\n{Log}");
        }
    }

    /// <summary>Stops the process with SIGKILL if it still runs (tests that need a clean stop use their own path).</summary>
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        lock (_lock)
        {
            _process?.Dispose();
            _process = null;
        }
    }
}
