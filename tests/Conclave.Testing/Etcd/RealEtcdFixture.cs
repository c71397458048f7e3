using Xunit;

namespace Conclave.Testing.Etcd;

/// <summary>
/// One real single-member etcd for a test class (IClassFixture) or a collection
/// (ICollectionFixture), started before the first test. Tests that share it use their own key
/// prefixes and read revisions from responses instead of assuming them.
/// Outside CI with a tool missing it starts nothing (the tests are skipped by
/// <see cref="EtcdFactAttribute"/>); under CI=true a missing tool fails every test that uses it.
/// </summary>
public class RealEtcdFixture : IAsyncLifetime
{
    private RealEtcd? _etcd;

    public RealEtcd Etcd => _etcd ?? throw new InvalidOperationException(
        EtcdTools.MissingReason() ?? "the real etcd was not started");

    public async Task InitializeAsync()
    {
        if (EtcdTools.MissingReason() is { } reason)
        {
            if (EtcdTools.IsCi)
            {
                throw new InvalidOperationException(reason);
            }
            return;
        }
        _etcd = await RealEtcd.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }
    }
}
