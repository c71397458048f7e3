using Conclave.Testing.Etcd;

namespace Conclave.E2E.Tests;

/// <summary>
/// One `conclave serve` per test class. Tests of a class share it, so each uses its own key prefix
/// and reads revisions from responses. Under CI=true a missing etcd tool fails the class.
/// </summary>
public sealed class ConclaveFixture : IAsyncLifetime
{
    private ConclaveProcess? _server;

    public ConclaveProcess Server => _server ?? throw new InvalidOperationException("conclave serve was not started");

    public async Task InitializeAsync()
    {
        if (EtcdTools.IsCi && EtcdTools.MissingReason() is { } reason)
        {
            throw new InvalidOperationException(reason);
        }
        _server = await ConclaveProcess.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
