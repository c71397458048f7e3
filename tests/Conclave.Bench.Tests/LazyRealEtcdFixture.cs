using Conclave.Testing.Etcd;

namespace Conclave.Bench.Tests;

/// <summary>
/// One real etcd for a test class, started lazily by the first test that needs it (so skipped
/// tests start nothing). Under CI a missing etcd makes <see cref="RealEtcd.StartAsync"/> throw,
/// which fails the test.
/// </summary>
public sealed class LazyRealEtcdFixture : IAsyncLifetime
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
