using Conclave.Testing.Etcd;

namespace Conclave.Api.Etcd.Tests;

/// <summary>
/// One real etcd per test class. Tests in a class share it, so each test uses its own key
/// prefix and reads revisions from responses instead of assuming them.
/// Outside CI with etcd missing it starts nothing (the tests are skipped by
/// <see cref="EtcdFactAttribute"/>); under CI a missing tool fails every test of the class.
/// </summary>
public sealed class RealEtcdFixture : IAsyncLifetime
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
