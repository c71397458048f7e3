using System.Diagnostics;
using Conclave.Testing.Etcd;
using Conclave.Testing.Processes;

namespace Conclave.E2E.Tests;

/// <summary>
/// `conclave serve` as a child process (`dotnet conclave.dll serve`) on free 127.0.0.1 ports with its
/// data in a temp directory that is deleted on dispose. Ready when the member logs that it leads
/// (single member) — the test awaits that log line, it never polls or sleeps.
/// </summary>
public sealed class ConclaveProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ServeOutput _output = new();
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _keepDirectory;

    private ConclaveProcess(string directory, int clientPort, int peerPort, int httpPort, IEnumerable<string> extraArgs)
    {
        Directory = directory;
        ClientPort = clientPort;
        PeerPort = peerPort;
        HttpPort = httpPort;
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ConclaveDll);
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add($"--listen-client-urls=http://127.0.0.1:{clientPort}");
        start.ArgumentList.Add($"--listen-peer-urls=http://127.0.0.1:{peerPort}");
        start.ArgumentList.Add($"--listen-metrics-urls=http://127.0.0.1:{httpPort}");
        foreach (var arg in extraArgs)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(n => n.StartsWith("CONCLAVE_", StringComparison.Ordinal)))
        {
            start.Environment.Remove(name);
        }
        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
        _output.Attach(_process);
        _process.Exited += (_, _) => _exited.TrySetResult(_process.ExitCode);
    }

    public static string ConclaveDll => Path.Combine(AppContext.BaseDirectory, "conclave.dll");

    public string Directory { get; }

    public int ClientPort { get; }

    public int PeerPort { get; }

    public int HttpPort { get; }

    public string Endpoint => $"127.0.0.1:{ClientPort}";

    public Uri ClientUrl => new($"http://127.0.0.1:{ClientPort}");

    public Uri HttpUrl => new($"http://127.0.0.1:{HttpPort}");

    public Task<int> Exited => _exited.Task;

    public string Log => _output.Log;

    public Etcdctl Etcdctl() => new(Endpoint);

    public PythonEtcd3 Python() => new("127.0.0.1", ClientPort);

    /// <summary>Starts a single member and waits (at most 30 s) until it leads.</summary>
    public static Task<ConclaveProcess> StartAsync(params string[] extraArgs) =>
        StartInAsync(Path.Combine(Path.GetTempPath(), $"conclave-e2e-{Guid.NewGuid():N}"), keepDirectory: false, extraArgs);

    /// <summary>
    /// Starts a single member in <paramref name="directory"/> (its data dir is the default
    /// ./default.conclave there); with <paramref name="keepDirectory"/> dispose leaves the directory.
    /// A restart must reuse the ports: the member id is derived from the peer URL.
    /// </summary>
    public static async Task<ConclaveProcess> StartInAsync(string directory, bool keepDirectory, params string[] extraArgs) =>
        await StartInAsync(directory, keepDirectory, FreePort.Take(3), extraArgs);

    /// <summary>As above on the given client, peer and HTTP ports.</summary>
    public static async Task<ConclaveProcess> StartInAsync(string directory, bool keepDirectory, int[] ports, params string[] extraArgs)
    {
        System.IO.Directory.CreateDirectory(directory);
        var server = new ConclaveProcess(directory, ports[0], ports[1], ports[2], extraArgs) { _keepDirectory = keepDirectory };
        server._process.Start();
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        try
        {
            await server._output.WaitReadyAsync(server._exited.Task, TimeSpan.FromSeconds(30));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>Runs `conclave serve ARGS` to completion (for start-up errors); returns exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(string workingDirectory, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ConclaveDll);
        start.ArgumentList.Add("serve");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Stops the member with SIGTERM (a clean stop) and waits for it; kills it if it does not stop in 15 s.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            Posix.Terminate(_process.Id);
            var stopped = await Task.WhenAny(_exited.Task, Task.Delay(TimeSpan.FromSeconds(15)));
            if (stopped != _exited.Task)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
                return -1;
            }
        }
        await _process.WaitForExitAsync();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
        if (_keepDirectory)
        {
            return;
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Posix
{
    /// <summary>Sends SIGTERM through kill(1), as a service manager would.</summary>
    public static void Terminate(int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false });
        kill?.WaitForExit();
    }
}
