namespace Conclave.Client.Recipes;

/// <summary>
/// A barrier that blocks waiters while a key exists: <see cref="HoldAsync"/> puts it,
/// <see cref="ReleaseAsync"/> deletes it and every <see cref="WaitAsync"/> returns.
/// </summary>
/// <example>
/// <code>
/// var barrier = new Barrier(client, "barriers/deploy");
/// await barrier.HoldAsync();
/// var waiting = barrier.WaitAsync();   // blocks
/// await barrier.ReleaseAsync();         // waiting completes
/// await waiting;
/// </code>
/// </example>
public sealed class Barrier(ConclaveClient client, string key)
{
    /// <summary>Raises the barrier; false when it was already up.</summary>
    public async Task<bool> HoldAsync(long leaseId = 0, CancellationToken cancellationToken = default)
    {
        var result = await client.Txn().If(Compare.CreateRevision(key) == 0).Then(Op.Put(key, "", leaseId)).CommitAsync(cancellationToken);
        return result.Succeeded;
    }

    public async Task ReleaseAsync(CancellationToken cancellationToken = default) =>
        await client.DeleteAsync(key, cancellationToken: cancellationToken);

    /// <summary>Returns once the barrier is down (immediately when it is not up).</summary>
    public async Task WaitAsync(CancellationToken cancellationToken = default)
    {
        var now = await client.GetAsync(key, cancellationToken: cancellationToken);
        if (now.Kvs.Count == 0)
        {
            return;
        }
        await RecipeSupport.WaitDeletedAsync(client, key, now.Revision + 1, cancellationToken);
    }
}

/// <summary>
/// A double barrier for <c>count</c> participants: <see cref="EnterAsync"/> returns once all
/// have entered, <see cref="LeaveAsync"/> once all have left. Participants are
/// "{name}/waiters/{lease hex}" under their session lease; the last to enter puts
/// "{name}/ready", the last to leave deletes it.
/// </summary>
/// <example>
/// <code>
/// var gate = new DoubleBarrier(client, "jobs/batch-7", count: 3, session);
/// await gate.EnterAsync();   // all three are in
/// // ... work together ...
/// await gate.LeaveAsync();   // all three are out
/// </code>
/// </example>
public sealed class DoubleBarrier(ConclaveClient client, string name, int count, LeaseKeeper session)
{
    private readonly string _waiters = name + "/waiters/";
    private readonly string _ready = name + "/ready";

    private string MyKey => _waiters + session.HexId;

    public async Task EnterAsync(CancellationToken cancellationToken = default)
    {
        await client.PutAsync(MyKey, "", session.Id, cancellationToken: cancellationToken);
        while (true)
        {
            var state = await client.Txn().Then(Op.GetPrefix(_waiters, new GetOptions { CountOnly = true }), Op.Get(_ready)).CommitAsync(cancellationToken);
            var waiting = ((GetResult)state.Results[0]).Count;
            if (((GetResult)state.Results[1]).Kvs.Count > 0)
            {
                return;
            }
            if (waiting >= count)
            {
                await client.Txn().If(Compare.CreateRevision(_ready) == 0).Then(Op.Put(_ready, "")).CommitAsync(cancellationToken);
                return;
            }
            await RecipeSupport.WaitChangeAsync(client, name + "/", state.Revision, cancellationToken);
        }
    }

    public async Task LeaveAsync(CancellationToken cancellationToken = default)
    {
        await client.DeleteAsync(MyKey, cancellationToken: cancellationToken);
        while (true)
        {
            var left = await client.GetPrefixAsync(_waiters, new GetOptions { CountOnly = true }, cancellationToken);
            if (left.Count == 0)
            {
                await client.DeleteAsync(_ready, cancellationToken: cancellationToken);
                return;
            }
            var ready = await client.GetAsync(_ready, cancellationToken: cancellationToken);
            if (ready.Kvs.Count == 0)
            {
                return;
            }
            await RecipeSupport.WaitChangeAsync(client, name + "/", left.Revision, cancellationToken);
        }
    }
}

/// <summary>
/// A FIFO queue: items are keys "{prefix}/{unique}" ordered by create revision; a dequeue
/// takes the oldest with a delete guarded by its mod revision, so each item is taken by
/// exactly one consumer.
/// </summary>
/// <example>
/// <code>
/// var queue = new DistributedQueue(client, "queues/jobs");
/// await queue.EnqueueAsync("job-1");
/// string job = await queue.DequeueAsync();   // waits while the queue is empty
/// </code>
/// </example>
public sealed class DistributedQueue(ConclaveClient client, string prefix)
{
    private readonly string _prefix = prefix + "/";

    public async Task EnqueueAsync(string value, CancellationToken cancellationToken = default) =>
        await client.PutAsync(_prefix + Guid.NewGuid().ToString("N"), value, cancellationToken: cancellationToken);

    /// <summary>Takes the oldest item, waiting while the queue is empty.</summary>
    public async Task<string> DequeueAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var head = await client.GetPrefixAsync(_prefix, new GetOptions
            {
                SortTarget = SortTarget.Create,
                SortOrder = SortOrder.Ascend,
                Limit = 1,
            }, cancellationToken);
            if (head.Kvs.Count == 0)
            {
                await RecipeSupport.WaitChangeAsync(client, _prefix, head.Revision, cancellationToken);
                continue;
            }
            var item = head.Kvs[0];
            var taken = await client.Txn()
                .If(Compare.ModRevision(item.Key) == item.ModRevision)
                .Then(Op.Delete(item.Key))
                .CommitAsync(cancellationToken);
            if (taken.Succeeded)
            {
                return item.ValueText;
            }
        }
    }
}
