using System.Net;
using System.Net.Sockets;
using Conclave.Testing.Etcd;

namespace Conclave.Api.Etcd.Tests;

/// <summary>The harness's own contract: start, serve, stop, clean up; bounded runs of endless commands.</summary>
public sealed class RealEtcdLifecycleTests
{
    [EtcdFact]
    public async Task Dispose_stops_etcd_frees_its_port_and_deletes_its_data_directory()
    {
        var etcd = await RealEtcd.StartAsync();
        var dataDirectory = etcd.DataDirectory;
        var port = etcd.ClientPort;
        Assert.True(Directory.Exists(dataDirectory));
        Assert.NotEqual(0UL, etcd.ClusterId);
        Assert.NotEqual(0UL, etcd.MemberId);

        await etcd.DisposeAsync();

        Assert.False(Directory.Exists(dataDirectory), $"{dataDirectory} still exists");
        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start(); // throws if etcd still holds the client port
        listener.Stop();
    }

    [EtcdFact]
    public async Task Two_instances_run_side_by_side_with_different_ports_and_ids()
    {
        await using var first = await RealEtcd.StartAsync();
        await using var second = await RealEtcd.StartAsync();

        Assert.NotEqual(first.ClientPort, second.ClientPort);
        Assert.NotEqual(first.DataDirectory, second.DataDirectory);
        (await first.Etcdctl().RunAsync("put", "only-in-first", "1")).EnsureSuccess();
        Assert.Equal("", (await second.Etcdctl().RunAsync("get", "only-in-first")).EnsureSuccess().StdOut);
    }

    [EtcdFact]
    public async Task RunUntil_reports_a_timeout_with_the_command_when_output_never_completes()
    {
        await using var etcd = await RealEtcd.StartAsync();

        var exception = await Assert.ThrowsAsync<TimeoutException>(() => etcd.Etcdctl().RunUntilAsync(
            ["watch", "/never/written"], output => output.Contains("PUT", StringComparison.Ordinal), TimeSpan.FromSeconds(2)));

        Assert.Contains("watch /never/written", exception.Message, StringComparison.Ordinal);
        Assert.Contains("neither produced the expected output nor exited", exception.Message, StringComparison.Ordinal);
    }
}
