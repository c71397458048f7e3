using Conclave.Testing.Etcd;

namespace Conclave.Bench.Tests;

/// <summary>
/// A fact that needs Debian's etcd binary. Outside CI it is skipped, with the reason, when etcd
/// is not on PATH; under CI=true it always runs, so a missing etcd fails it.
/// </summary>
public sealed class RealEtcdFactAttribute : FactAttribute
{
    public RealEtcdFactAttribute()
    {
        if (!EtcdTools.IsCi && EtcdTools.EtcdPath is null)
        {
            Skip = "etcd is not on PATH; run scripts/install-test-deps.sh as root (under CI=true this test fails instead of skipping)";
        }
    }
}

/// <summary>
/// One real etcd for a test class, started lazily by the first test that needs it (so skipped
/// tests start nothing). Under CI a missing etcd makes <see cref="RealEtcd.StartAsync"/> throw,
/// which fails the test.
/// </summary>
public sealed class RealEtcdFixture : IAsyncLifetime
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private RealEtcd? _etcd;

    public async Task<RealEtcd> GetAsync()
    {
        await _gate.WaitAsync();
        try
        {
            return _etcd ??= await RealEtcd.StartAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }
        _gate.Dispose();
    }
}
