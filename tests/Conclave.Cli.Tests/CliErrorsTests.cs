using System.Net;
using System.Net.Sockets;
using Conclave.Client;
using Conclave.Testing.Etcd;

namespace Conclave.Cli.Tests;

/// <summary>The error sentences, with real sockets: listening ports are reachable, closed ones refuse.</summary>
public sealed class CliErrorsTests
{
    [Fact]
    public async Task No_leader_names_the_unreachable_members_and_maps_to_exit_3()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var up = ((IPEndPoint)listener.LocalEndpoint).Port;
            var down = FreePort.Take(2);
            var settings = new CliSettings([$"127.0.0.1:{up}", $"127.0.0.1:{down[0]}", $"127.0.0.1:{down[1]}"], OutputFormat.Plain, TimeSpan.FromSeconds(2));

            var (message, exitCode) = await CliErrors.DescribeAsync(new NoLeaderException("etcdserver: no leader"), settings, CancellationToken.None);
            Assert.Equal(ExitCodes.Unavailable, exitCode);
            Assert.Equal($"no leader: 2 of 3 members unreachable: 127.0.0.1:{down[0]}: connection refused; 127.0.0.1:{down[1]}: connection refused", message);

            var (partial, partialCode) = await CliErrors.DescribeAsync(new ClusterUnavailableException("no member could serve the request"), settings, CancellationToken.None);
            Assert.Equal(ExitCodes.Unavailable, partialCode);
            Assert.StartsWith("cluster unavailable: 2 of 3 members unreachable (", partial);

            var (leaderless, _) = await CliErrors.DescribeAsync(new NoLeaderException("etcdserver: no leader"), settings with { Endpoints = [$"127.0.0.1:{up}"] }, CancellationToken.None);
            Assert.Equal("no leader: the cluster is electing one or has lost its quorum (etcdserver: no leader)", leaderless);

            // A timed-out write names the unreachable members too (the usual cause: a lost quorum).
            var (timedOut, timedOutCode) = await CliErrors.DescribeAsync(new ServerTimeoutException("etcdserver: request timed out"), settings, CancellationToken.None);
            Assert.Equal(ExitCodes.Unavailable, timedOutCode);
            Assert.Equal(
                $"request timed out; it may or may not have been applied (etcdserver: request timed out); 2 of 3 members unreachable: 127.0.0.1:{down[0]}: connection refused; 127.0.0.1:{down[1]}: connection refused",
                timedOut);
        }
        finally
        {
            listener.Stop();
        }
    }

    [Theory]
    [InlineData("5s", 5000)]
    [InlineData("500ms", 500)]
    [InlineData("2m", 120000)]
    [InlineData("1.5", 1500)]
    public void Durations_parse(string text, int milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), GlobalOptions.ParseDuration(text, "--timeout"));

    [Theory]
    [InlineData("version(\"k\") = 0", true)]
    [InlineData("value(\"a b\") != \"x \\\" y\"", true)]
    [InlineData("mod(\"k\") < 5", true)]
    [InlineData("create(k) > 1", true)]
    [InlineData("version(\"k\") ~ 0", false)]
    [InlineData("version(\"k\") = zero", false)]
    [InlineData("size(\"k\") = 0", false)]
    [InlineData("version \"k\" = 0", false)]
    public void Txn_compares_parse_or_name_the_bad_line(string line, bool valid)
    {
        if (valid)
        {
            Assert.NotNull(TxnCommand.ParseCompare(line));
        }
        else
        {
            Assert.Contains(line, Assert.Throws<CliUsageException>(() => TxnCommand.ParseCompare(line)).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Txn_tokens_group_quotes_with_escapes() =>
        Assert.Equal(["put", "k", "a \"b\" \\c", ""], TxnCommand.Tokenize("put  k \"a \\\"b\\\" \\\\c\" \"\""));
}
