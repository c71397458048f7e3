using Conclave.Testing.Etcd;

namespace Conclave.Cli.Tests;

/// <summary>The real executable's exit codes and one-line messages when things go wrong.</summary>
public sealed class ErrorTests
{
    [Fact]
    public async Task An_unreachable_endpoint_exits_3_with_connection_refused_and_no_stack_trace()
    {
        var port = FreePort.Take(1)[0];
        var result = await Cli.RunAsync("get", "k", "--endpoints", $"127.0.0.1:{port}", "--timeout", "1s");
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal($"Error: cannot reach 127.0.0.1:{port}: connection refused\n", result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public async Task CONCLAVE_ENDPOINTS_is_used_when_endpoints_is_not_given()
    {
        var port = FreePort.Take(1)[0];
        var result = await Cli.RunAsync(["put", "k", "v", "--timeout", "500ms"], null, new Dictionary<string, string> { ["CONCLAVE_ENDPOINTS"] = $"127.0.0.1:{port}" });
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains($"127.0.0.1:{port}: connection refused", result.Stderr);
    }

    [Theory]
    [InlineData("get")]
    [InlineData("get", "k", "--output", "xml")]
    [InlineData("get", "k", "--timeout", "soon")]
    [InlineData("get", "k", "--endpoints", "http://")]
    [InlineData("get", "k", "--sort-by", "SIZE")]
    [InlineData("put", "k", "v", "--lease", "xyz")]
    [InlineData("nosuchcommand")]
    public async Task A_bad_command_line_exits_2_without_a_stack_trace(params string[] args)
    {
        var result = await Cli.RunInProcessAsync(args);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.DoesNotContain("   at ", result.Stderr + result.Stdout);
    }

    [Fact]
    public async Task The_real_executable_exits_2_on_an_unknown_option()
    {
        var result = await Cli.RunAsync("del", "k", "--no-such-flag");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--no-such-flag", result.Stderr);
    }
}
