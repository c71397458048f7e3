using Conclave.Testing.Etcd;

namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// One 3-member cluster of real processes shared by the tests of a class; they use their own
/// key prefixes and leave the membership alone. Under CI=true a missing etcd tool fails the class.
/// </summary>
public sealed class ThreeMemberClusterFixture : IAsyncLifetime
{
    private ConclaveProcessCluster? _cluster;

    public ConclaveProcessCluster Cluster => _cluster ?? throw new InvalidOperationException("the cluster was not started");

    public async Task InitializeAsync()
    {
        if (EtcdTools.IsCi && EtcdTools.MissingReason() is { } reason)
        {
            throw new InvalidOperationException(reason);
        }

        _cluster = await ConclaveProcessCluster.StartAsync(3);
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
