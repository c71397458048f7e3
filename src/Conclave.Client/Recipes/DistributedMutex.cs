namespace Conclave.Client.Recipes;

/// <summary>
/// A held distributed lock, in etcd's concurrency.Mutex layout: each contender puts
/// "{name}/{lease id in hex}" under its session lease; the holder is the key with the lowest
/// create revision. So it excludes (and is excluded by) <c>etcdctl lock {name}</c>.
///
/// <see cref="FencingToken"/> is the lock key's create revision: it grows with every new
/// holder, so a resource can refuse writes carrying an older token. <see cref="GuardedPutAsync"/>
/// makes the store itself the resource: the put applies only while the key still exists with
/// that create revision, so a holder that was paused past its lease cannot clobber data.
/// <see cref="Lost"/> fires when the session lease is lost or the lock key disappears.
/// Disposing releases the lock (and revokes the session if the mutex created it).
/// </summary>
/// <example>
/// <code>
/// await using var mutex = await DistributedMutex.AcquireAsync(client, "locks/report");
/// if (!await mutex.GuardedPutAsync("report/owner", "me"))
/// {
///     // we no longer hold the lock: nothing was written
/// }
/// </code>
/// </example>
public sealed class DistributedMutex : IAsyncDisposable
{
    private readonly ConclaveClient _client;
    private readonly LeaseKeeper _session;
    private readonly bool _ownsSession;
    private readonly CancellationTokenSource _lost;
    private readonly CancellationTokenSource _stopWatch = new();
    private readonly Task _watchTask;

    private DistributedMutex(ConclaveClient client, LeaseKeeper session, bool ownsSession, string key, long fencingToken)
    {
        _client = client;
        _session = session;
        _ownsSession = ownsSession;
        Key = key;
        FencingToken = fencingToken;
        _lost = CancellationTokenSource.CreateLinkedTokenSource(session.Lost);
        _watchTask = WatchOwnKeyAsync();
    }

    /// <summary>The lock key this holder owns.</summary>
    public string Key { get; }

    /// <summary>The create revision of <see cref="Key"/>: larger for every later holder.</summary>
    public long FencingToken { get; }

    /// <summary>Fires when this holder has lost the lock (lease gone or key deleted by someone).</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>
    /// Waits until the lock is held. With no <paramref name="session"/>, a lease of
    /// <paramref name="ttlSeconds"/> is granted and kept alive for the life of the mutex.
    /// If the wait is cancelled the queued key is deleted.
    /// </summary>
    public static async Task<DistributedMutex> AcquireAsync(
        ConclaveClient client, string name, LeaseKeeper? session = null, long ttlSeconds = 10, CancellationToken cancellationToken = default) =>
        await AcquireCoreAsync(client, name, session, ttlSeconds, Timeout.InfiniteTimeSpan, cancellationToken)
        ?? throw new InvalidOperationException("mutex: an unbounded wait returned without the lock");

    /// <summary>
    /// Like <see cref="AcquireAsync"/>, but waits at most <paramref name="timeout"/> for the holders
    /// queued ahead to leave, and returns null (queued key deleted, owned session revoked) when they
    /// did not. <see cref="TimeSpan.Zero"/> takes the lock only when nobody holds or waits for it;
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits for ever. The timeout bounds the waiting only:
    /// granting the lease and queuing the key are requests with the client's own deadlines.
    /// </summary>
    public static Task<DistributedMutex?> TryAcquireAsync(
        ConclaveClient client, string name, TimeSpan timeout, LeaseKeeper? session = null, long ttlSeconds = 10, CancellationToken cancellationToken = default)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "mutex: the timeout must be non-negative or infinite");
        }
        return AcquireCoreAsync(client, name, session, ttlSeconds, timeout, cancellationToken);
    }

    private static async Task<DistributedMutex?> AcquireCoreAsync(
        ConclaveClient client, string name, LeaseKeeper? session, long ttlSeconds, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var ownsSession = session is null;
        session ??= await client.GrantKeptLeaseAsync(ttlSeconds, cancellationToken);
        var prefix = name + "/";
        var key = prefix + session.HexId;
        try
        {
            var queued = await client.Txn()
                .If(Compare.CreateRevision(key) == 0)
                .Then(Op.Put(key, "", session.Id))
                .Else(Op.Get(key))
                .CommitAsync(cancellationToken);
            var myRevision = queued.Succeeded ? queued.Revision : ((GetResult)queued.Results[0]).Kvs[0].CreateRevision;
            using var waitLimit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (timeout != Timeout.InfiniteTimeSpan)
            {
                waitLimit.CancelAfter(timeout);
            }
            try
            {
                await RecipeSupport.WaitPredecessorsGoneAsync(client, prefix, myRevision - 1, cancellationToken, waitLimit.Token);
            }
            catch (OperationCanceledException)
            {
                await client.Txn()
                    .If(Compare.CreateRevision(key) == myRevision)
                    .Then(Op.Delete(key))
                    .CommitAsync(CancellationToken.None);
                cancellationToken.ThrowIfCancellationRequested();
                if (ownsSession)
                {
                    await session.DisposeAsync();
                }
                return null;
            }
            var mine = await client.GetAsync(key, cancellationToken: cancellationToken);
            if (mine.Kvs.Count == 0 || mine.Kvs[0].CreateRevision != myRevision)
            {
                throw new LockLostException($"the lock key {key} disappeared while waiting (session lease {session.HexId} lost?)");
            }
            return new DistributedMutex(client, session, ownsSession, key, myRevision);
        }
        catch when (ownsSession)
        {
            await session.DisposeAsync();
            throw;
        }
    }

    /// <summary>Puts only while this holder still holds the lock; false (nothing written) otherwise.</summary>
    public async Task<bool> GuardedPutAsync(string key, string value, CancellationToken cancellationToken = default)
    {
        var result = await _client.Txn()
            .If(Compare.CreateRevision(Key) == FencingToken)
            .Then(Op.Put(key, value))
            .CommitAsync(cancellationToken);
        return result.Succeeded;
    }

    /// <summary>A transaction guarded like <see cref="GuardedPutAsync"/>: it runs <paramref name="ops"/> only while the lock is held.</summary>
    public Task<TxnResult> GuardedTxnAsync(Op[] ops, CancellationToken cancellationToken = default) =>
        _client.Txn().If(Compare.CreateRevision(Key) == FencingToken).Then(ops).CommitAsync(cancellationToken);

    private async Task WatchOwnKeyAsync()
    {
        try
        {
            using var both = CancellationTokenSource.CreateLinkedTokenSource(_stopWatch.Token, _lost.Token);
            await RecipeSupport.WaitDeletedAsync(_client, Key, FencingToken, both.Token);
            if (!_stopWatch.IsCancellationRequested)
            {
                await _lost.CancelAsync();
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ConclaveException)
        {
            // The watch itself failed; the session lease still signals loss.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopWatch.CancelAsync();
        await _watchTask;
        try
        {
            if (!_session.Lost.IsCancellationRequested)
            {
                await _client.Txn()
                    .If(Compare.CreateRevision(Key) == FencingToken)
                    .Then(Op.Delete(Key))
                    .CommitAsync();
            }
        }
        finally
        {
            if (_ownsSession)
            {
                await _session.DisposeAsync();
            }
            _lost.Dispose();
            _stopWatch.Dispose();
        }
    }

}

/// <summary>The lock (or leadership) was lost while it was being acquired or used.</summary>
public sealed class LockLostException(string message) : Exception(message);
