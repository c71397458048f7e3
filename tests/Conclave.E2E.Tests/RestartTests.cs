using Conclave.Testing.Etcd;

namespace Conclave.E2E.Tests;

/// <summary>SIGTERM stops `conclave serve` cleanly, and a restart on the same data dir has every acknowledged write.</summary>
public sealed class RestartTests
{
    [EtcdFact]
    public async Task Sigterm_exits_0_and_a_restart_keeps_the_data()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"conclave-e2e-restart-{Guid.NewGuid():N}");
        try
        {
            int exitCode;
            int[] ports;
            await using (var first = await ConclaveProcess.StartInAsync(directory, keepDirectory: true))
            {
                (await first.Etcdctl().RunAsync("put", "/restart/k", "v1")).EnsureSuccess();
                (await first.Etcdctl().RunAsync("put", "/restart/k", "v2")).EnsureSuccess();
                exitCode = await first.StopAsync();
                ports = [first.ClientPort, first.PeerPort, first.HttpPort];
            }
            Assert.Equal(0, exitCode);
            Assert.True(Directory.Exists(Path.Combine(directory, "default.conclave")), "the default data dir ./default.conclave was not created");

            // The same ports: the member id is derived from the peer URL.
            await using var second = await ConclaveProcess.StartInAsync(directory, keepDirectory: true, ports);
            var get = (await second.Etcdctl().RunAsync("get", "/restart/k", "-w", "json")).EnsureSuccess().StdOut;

            Assert.Contains("\"version\":2", get, StringComparison.Ordinal);
            Assert.Contains("\"value\":\"djI=\"", get, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
