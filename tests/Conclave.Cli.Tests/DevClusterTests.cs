using System.Text.Json;
using Conclave.Testing.Etcd;

namespace Conclave.Cli.Tests;

/// <summary>dev-cluster's start, report and clean stop (the 3-member run is the README tour).</summary>
public sealed class DevClusterTests
{
    [Fact]
    public async Task Dev_cluster_starts_reports_its_endpoints_and_removes_its_data_on_SIGTERM()
    {
        var directory = Directory.CreateTempSubdirectory("conclave-devcluster-");
        try
        {
            var basePort = FreeRange();
            await using var cluster = new RunningCli("dev-cluster", "--members", "1", "--base-port", basePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--data-dir", directory.FullName, "-w", "plain");
            var line = await cluster.WaitForLineAsync(l => l.StartsWith("CONCLAVE_ENDPOINTS=", StringComparison.Ordinal), "the CONCLAVE_ENDPOINTS line");
            var endpoint = line["CONCLAVE_ENDPOINTS=".Length..].Trim();
            Assert.Equal($"127.0.0.1:{basePort}", endpoint);
            Assert.True(Directory.Exists(Path.Combine(directory.FullName, "m0")));
            Assert.True(File.Exists(Path.Combine(directory.FullName, "m0.log")));

            var members = await Cli.RunInProcessAsync("member", "list", "-w", "json", "--endpoints", endpoint);
            Assert.True(members.ExitCode == 0, members.ToString());
            using (var doc = JsonDocument.Parse(members.Stdout))
            {
                Assert.Equal("m0", Assert.Single(doc.RootElement.GetProperty("members").EnumerateArray()).GetProperty("name").GetString());
            }

            Assert.Equal(0, await cluster.TerminateAsync());
            Assert.Empty(Directory.EnumerateFileSystemEntries(directory.FullName));
            Assert.Equal(3, (await Cli.RunAsync("get", "k", "--endpoints", endpoint, "--timeout", "1s")).ExitCode);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>A base port whose 30 ports (clients, peers, HTTP) can all be bound right now.</summary>
    internal static int FreeRange()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var candidate = FreePort.Take(1)[0];
            if (candidate + 30 < 65535 && Enumerable.Range(candidate, 30).All(Bindable))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException("no range of 30 free ports found");
    }

    internal static bool Bindable(int port)
    {
        try
        {
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Dev_cluster_rejects_a_bad_member_count()
    {
        var result = await Cli.RunInProcessAsync("dev-cluster", "--members", "0");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--members must be 1..9", result.Stderr);
    }
}
