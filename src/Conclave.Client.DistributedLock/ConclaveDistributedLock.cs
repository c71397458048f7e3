using Conclave.Client.Recipes;
using Medallion.Threading;

namespace Conclave.Client.DistributedLock;

/// <summary>
/// DistributedLock.Core's <see cref="IDistributedLock"/> over <see cref="DistributedMutex"/>:
/// the lock lives at the key prefix <see cref="Name"/> in etcd's concurrency.Mutex layout, so it
/// excludes (and is excluded by) a <see cref="DistributedMutex"/> or <c>etcdctl lock</c> of the
/// same name. Each acquisition takes its own session lease of the TTL given here, kept alive
/// while the handle lives; the handle's <see cref="IDistributedSynchronizationHandle.HandleLostToken"/>
/// fires when that lease or the lock key is lost.
///
/// Timeouts follow DistributedLock.Core: <c>TryAcquire*</c> return null when the lock was not
/// taken within the timeout (default zero: only a free lock), <c>Acquire*</c> throw
/// <see cref="TimeoutException"/> (default: wait for ever). The timeout bounds the wait for the
/// holders ahead; each request to the cluster still has the client's own deadline. The
/// synchronous methods block on the asynchronous ones.
/// </summary>
public sealed class ConclaveDistributedLock : IDistributedLock
{
    private readonly ConclaveClient _client;
    private readonly long _ttlSeconds;

    /// <param name="name">The key prefix of the lock ("{name}/{lease hex}" keys queue under it).</param>
    /// <param name="ttlSeconds">TTL of each holder's session lease: how long a crashed holder blocks the lock.</param>
    public ConclaveDistributedLock(ConclaveClient client, string name, long ttlSeconds = 10)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(ttlSeconds, 1);
        _client = client;
        Name = name;
        _ttlSeconds = ttlSeconds;
    }

    public string Name { get; }

    public IDistributedSynchronizationHandle? TryAcquire(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    public IDistributedSynchronizationHandle Acquire(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        AcquireAsync(timeout, cancellationToken).AsTask().GetAwaiter().GetResult();

    public ValueTask<IDistributedSynchronizationHandle?> TryAcquireAsync(TimeSpan timeout = default, CancellationToken cancellationToken = default) =>
        TryAcquireCoreAsync(timeout, cancellationToken);

    public async ValueTask<IDistributedSynchronizationHandle> AcquireAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        await TryAcquireCoreAsync(timeout ?? Timeout.InfiniteTimeSpan, cancellationToken)
        ?? throw new TimeoutException($"conclave lock: {Name} was not acquired within {timeout?.TotalMilliseconds:0} ms");

    private async ValueTask<IDistributedSynchronizationHandle?> TryAcquireCoreAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var mutex = await DistributedMutex.TryAcquireAsync(_client, Name, timeout, ttlSeconds: _ttlSeconds, cancellationToken: cancellationToken);
        return mutex is null ? null : new ConclaveDistributedLockHandle(mutex);
    }
}

/// <summary>
/// A held <see cref="ConclaveDistributedLock"/>. Disposing (either way, any number of times)
/// releases the lock and revokes its session lease. <see cref="FencingToken"/> and
/// <see cref="Mutex"/> give the fencing token and the guarded writes of the underlying mutex.
/// </summary>
public sealed class ConclaveDistributedLockHandle : IDistributedSynchronizationHandle
{
    private DistributedMutex? _mutex;

    internal ConclaveDistributedLockHandle(DistributedMutex mutex)
    {
        _mutex = mutex;
        Mutex = mutex;
        // Captured now: the mutex's token source is disposed with it.
        HandleLostToken = mutex.Lost;
    }

    /// <summary>Fires when the lock is lost before the handle is disposed (lease expired or key deleted).</summary>
    public CancellationToken HandleLostToken { get; }

    /// <summary>The lock key's create revision: larger for every later holder.</summary>
    public long FencingToken => Mutex.FencingToken;

    /// <summary>The mutex behind the handle, for <see cref="DistributedMutex.GuardedPutAsync"/> and <see cref="DistributedMutex.GuardedTxnAsync"/>.</summary>
    public DistributedMutex Mutex { get; }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _mutex, null) is { } mutex ? mutex.DisposeAsync() : ValueTask.CompletedTask;
}

/// <summary>
/// DistributedLock.Core's <see cref="IDistributedLockProvider"/>: <c>CreateLock(name)</c> is a
/// <see cref="ConclaveDistributedLock"/> at the key prefix <c>{keyPrefix}{name}</c>. Register one
/// per application (it holds no state beyond the client).
/// </summary>
public sealed class ConclaveDistributedSynchronizationProvider(ConclaveClient client, string keyPrefix = "locks/", long ttlSeconds = 10)
    : IDistributedLockProvider
{
    public ConclaveDistributedLock CreateLock(string name) => new(client, keyPrefix + name, ttlSeconds);

    IDistributedLock IDistributedLockProvider.CreateLock(string name) => CreateLock(name);
}
