namespace Conclave.Client.Recipes;

/// <summary>
/// A counting semaphore: at most <c>permits</c> holders at once. Each acquirer puts
/// "{name}/{lease hex}-{unique}" under its session lease; the holders are the first
/// <c>permits</c> keys by create revision, so waiting is FIFO. Disposing releases the permit;
/// a holder whose lease is lost loses its permit with it.
/// </summary>
/// <example>
/// <code>
/// await using var permit = await DistributedSemaphore.AcquireAsync(client, "sem/db", permits: 3, session);
/// // at most three processes are here
/// </code>
/// </example>
public sealed class DistributedSemaphore : IAsyncDisposable
{
    private readonly ConclaveClient _client;

    private DistributedSemaphore(ConclaveClient client, string key, long createRevision)
    {
        _client = client;
        Key = key;
        CreateRevision = createRevision;
    }

    public string Key { get; }

    public long CreateRevision { get; }

    public static async Task<DistributedSemaphore> AcquireAsync(
        ConclaveClient client, string name, int permits, LeaseKeeper session, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(permits, 1);
        var prefix = name + "/";
        var key = $"{prefix}{session.HexId}-{Guid.NewGuid():N}";
        var put = await client.PutAsync(key, "", session.Id, cancellationToken: cancellationToken);
        try
        {
            while (true)
            {
                var first = await client.GetPrefixAsync(prefix, new GetOptions
                {
                    SortTarget = SortTarget.Create,
                    SortOrder = SortOrder.Ascend,
                    Limit = permits,
                    KeysOnly = true,
                }, cancellationToken);
                if (first.Kvs.Any(kv => kv.Key == key))
                {
                    return new DistributedSemaphore(client, key, put.Revision);
                }
                var mine = await client.GetAsync(key, new GetOptions { KeysOnly = true }, cancellationToken);
                if (mine.Kvs.Count == 0)
                {
                    throw new LockLostException($"the semaphore key {key} disappeared while waiting (session lease lost?)");
                }
                // Wait until something under the prefix changes (a holder leaves), then look again.
                await RecipeSupport.WaitChangeAsync(client, prefix, first.Revision, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            await client.DeleteAsync(key, cancellationToken: CancellationToken.None);
            throw;
        }
    }

    public async ValueTask DisposeAsync() => await _client.DeleteAsync(Key);
}
