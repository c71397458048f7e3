using System.Diagnostics;
using Conclave.Testing.Etcd;
using Conclave.Testing.Processes;

namespace Conclave.Cli.Tests;

/// <summary>
/// One `conclave serve` member as a child process on free 127.0.0.1 ports, data in a temp
/// directory removed on dispose. Ready when it logs that it leads (awaited, never polled).
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ServeOutput _output = new();
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
        _output.Attach(_process);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Endpoint { get; }

    public string Log => _output.Log;

    public static async Task<ServerProcess> StartAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"conclave-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var server = new ServerProcess(directory, FreePort.Take(3));
        try
        {
            await server._output.WaitReadyAsync(server._process.WaitForExitAsync(), TimeSpan.FromSeconds(60));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
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

    /// <summary>`conclave ARGS --endpoints this --timeout Cli.TestTimeout`, in process.</summary>
    public Task<CliResult> RunAsync(params string[] args) =>
        Cli.RunInProcessAsync([.. args, "--endpoints", Endpoint, "--timeout", Cli.TestTimeout]);

    /// <summary>As <see cref="RunAsync"/>, asserting exit code 0 (the failure message holds the output).</summary>
    public async Task<CliResult> OkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.ExitCode == 0, $"conclave {string.Join(' ', args)}: {result}");
        return result;
    }

    public async Task InitializeAsync() => _server = await ServerProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
