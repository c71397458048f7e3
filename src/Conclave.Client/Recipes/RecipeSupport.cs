namespace Conclave.Client.Recipes;

/// <summary>Waiting primitives the recipes share.</summary>
internal static class RecipeSupport
{
    /// <summary>
    /// Returns once <paramref name="key"/> is deleted at a revision ≥ <paramref name="fromRevision"/>
    /// (or found absent after a resync). The caller read the key as present at fromRevision - 1.
    /// </summary>
    public static async Task WaitDeletedAsync(ConclaveClient client, string key, long fromRevision, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await foreach (var e in client.WatchAsync(key, new WatchOptions { StartRevision = fromRevision }, stop.Token))
        {
            if (e.Type == WatchEventType.Delete || (e.Type == WatchEventType.Resync && e.Snapshot.Count == 0))
            {
                await stop.CancelAsync();
                return;
            }
        }
    }

    /// <summary>
    /// Waits until no key under <paramref name="prefix"/> has a create revision at most
    /// <paramref name="maxCreateRevision"/>: the keys queued ahead of ours are all gone.
    /// Returns the revision at which that was seen. <paramref name="waitCancellation"/> (when it
    /// can be cancelled) bounds only the waiting, not the reads: with it already cancelled the
    /// queue is still looked at once, so "no one ahead" returns instead of throwing.
    /// </summary>
    public static async Task<long> WaitPredecessorsGoneAsync(
        ConclaveClient client, string prefix, long maxCreateRevision, CancellationToken cancellationToken, CancellationToken waitCancellation = default)
    {
        var wait = waitCancellation.CanBeCanceled ? waitCancellation : cancellationToken;
        while (true)
        {
            var last = await client.GetPrefixAsync(prefix, new GetOptions
            {
                SortTarget = SortTarget.Create,
                SortOrder = SortOrder.Descend,
                Limit = 1,
                MaxCreateRevision = maxCreateRevision,
            }, cancellationToken);
            if (last.Kvs.Count == 0)
            {
                return last.Revision;
            }
            await WaitDeletedAsync(client, last.Kvs[0].Key, last.Revision + 1, wait);
        }
    }

    /// <summary>Waits for the first change under <paramref name="prefix"/> after <paramref name="afterRevision"/>.</summary>
    public static async Task WaitChangeAsync(ConclaveClient client, string prefix, long afterRevision, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await foreach (var _ in client.WatchPrefixAsync(prefix, new WatchOptions { StartRevision = afterRevision + 1 }, stop.Token))
        {
            await stop.CancelAsync();
            return;
        }
    }
}
