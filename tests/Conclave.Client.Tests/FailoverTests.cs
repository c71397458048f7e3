using Conclave.Testing.Etcd;

namespace Conclave.Client.Tests;

/// <summary>Failover without a server. The cluster failover tests are in <see cref="RecipeFaultTests{TFixture}"/>.</summary>
public sealed class FailoverTests
{
    [EtcdFact]
    public async Task A_lease_keeper_that_cannot_reach_any_member_reports_loss_when_the_ttl_runs_out()
    {
        var deadPort = Conclave.Testing.Etcd.FreePort.Take(1)[0];
        await using var client = new ConclaveClient([$"127.0.0.1:{deadPort}"], TestOptions.Client with { DialTimeout = TimeSpan.FromMilliseconds(200) });
        await using var keeper = client.KeepAlive(id: 0x1234, ttlSeconds: 1);
        await keeper.Lost.WhenCancelled().Within("the keeper to give up once the 1 s TTL passed without a renewal");
        Assert.Contains("could not be renewed within its TTL", keeper.LostReason);
    }
}
