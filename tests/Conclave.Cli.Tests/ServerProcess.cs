using System.Diagnostics;
using System.Text;
using Conclave.Testing.Etcd;

namespace Conclave.Cli.Tests;

/// <summary>
/// One `conclave serve` member as a child process on free 127.0.0.1 ports, data in a temp
/// directory removed on dispose. Ready when it logs that it leads (awaited, never polled).
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _leads;
    private bool _serving;
    private readonly string _directory;

    private ServerProcess(string directory, int[] ports)
    {
        _directory = directory;
        Endpoint = $"127.0.0.1:{ports[0]}";
        _process = Cli.Start([
            "serve",
            $"--data-dir={Path.Combine(directory, "data")}",
            $"--listen-client-urls=http://127.0.0.1:{ports[0]}",
            $"--advertise-client-urls=http://127.0.0.1:{ports[0]}",
            $"--listen-peer-urls=http://127.0.0.1:{ports[1]}",
            $"--initial-advertise-peer-urls=http://127.0.0.1:{ports[1]}",
            $"--initial-cluster=default=http://127.0.0.1:{ports[1]}",
            $"--listen-metrics-urls=http://127.0.0.1:{ports[2]}",
        ]);
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Endpoint { get; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public static async Task<ServerProcess> StartAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"conclave-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var server = new ServerProcess(directory, FreePort.Take(3));
        var ready = await Task.WhenAny(server._ready.Task, server._process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
        if (ready != server._ready.Task)
        {
            var log = server.Log;
            await server.DisposeAsync();
            throw new InvalidOperationException($"conclave serve did not become leader within 60 s (or exited). Log:\n{log}");
        }
        return server;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.AppendLine(line);
            // Ready when it leads AND its listeners are up: a single member wins its election at
            // once, before "serving" (either line may come first).
            _leads |= line.Contains("this member is Leader", StringComparison.Ordinal);
            _serving |= line.Contains("serving member", StringComparison.Ordinal);
            if (_leads && _serving)
            {
                _ready.TrySetResult();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One member shared by the tests of a class; each test uses its own key prefix.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private ServerProcess? _server;

    public string Endpoint => _server!.Endpoint;

    public async Task InitializeAsync() => _server = await ServerProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
