using System.Net;
using System.Net.Sockets;

namespace Conclave.Bench.Tests;

/// <summary>The command line: bad options are refused before anything connects.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("not both", "bench", "put", "--total", "5", "--duration", "1s")]
    [InlineData("--total must be positive", "bench", "put", "--total", "0")]
    [InlineData("not a positive number", "bench", "put", "--duration", "10")]
    [InlineData("--read-ratio", "bench", "mixed", "--read-ratio", "1.5")]
    [InlineData("too small", "bench", "put", "--key-size", "8", "--key-space-size", "1000")]
    [InlineData("--txn-ops 5", "bench", "txn-put", "--txn-ops", "5", "--key-space-size", "4")]
    [InlineData("--streams 3", "bench", "watch", "--watchers", "2", "--streams", "3")]
    [InlineData("--put-rate", "bench", "watch", "--put-rate", "0")]
    [InlineData("--clients", "bench", "put", "--clients", "0")]
    [InlineData("not host:port", "bench", "put", "--endpoints", "localhost")]
    [InlineData("xml", "bench", "put", "--output", "xml")]
    [InlineData("'q'", "bench", "range", "--consistency", "q")]
    [InlineData("Required command", "bench")]
    public async Task Bad_options_exit_2_with_a_message(string expected, params string[] args)
    {
        var (exitCode, output, error) = await Cli.RunAsync(args);

        Assert.True(exitCode == 2, $"exit {exitCode}, stderr: {error}");
        Assert.Contains(expected, error + output);
    }

    [Fact]
    public async Task An_endpoint_that_does_not_answer_exits_1_naming_it()
    {
        var port = ClosedPort();

        var (exitCode, _, error) = await Cli.RunAsync("bench", "put", "--endpoints", $"127.0.0.1:{port}", "--total", "5", "--no-progress");

        Assert.Equal(1, exitCode);
        Assert.Contains($"127.0.0.1:{port} did not answer", error);
    }

    [Fact]
    public async Task Every_workload_is_registered_under_bench()
    {
        var (exitCode, output, _) = await Cli.RunAsync("bench", "--help");

        Assert.Equal(0, exitCode);
        foreach (var workload in (string[])["put", "range", "txn-put", "watch", "lease-keepalive", "lock", "mixed"])
        {
            Assert.Contains($"  {workload} ", output);
        }
    }

    /// <summary>A loopback port nobody listens on (bound, then released; nothing else binds it in between in practice).</summary>
    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
