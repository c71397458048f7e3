using System.Runtime.CompilerServices;

namespace Conclave.Client.Recipes;

/// <summary>The current leader of an election: its key, proclaimed value and create revision.</summary>
public sealed record Leader(string Key, string Value, long CreateRevision);

/// <summary>
/// Leader election in etcd's concurrency.Election layout: each candidate puts
/// "{name}/{lease id in hex}" = value under its session lease; the leader is the key with the
/// lowest create revision. Interoperates with <c>etcdctl elect {name} [value]</c>.
/// A leader that loses its session lease loses the key and the next candidate takes over.
/// </summary>
/// <example>
/// <code>
/// await using var session = await client.GrantKeptLeaseAsync(10);
/// var election = new Election(client, "elections/scheduler", session);
/// await election.CampaignAsync("node-1");      // returns once we lead
/// await election.ProclaimAsync("node-1 (v2)"); // change the value while leading
/// await election.ResignAsync();
/// </code>
/// </example>
public sealed class Election(ConclaveClient client, string name, LeaseKeeper session)
{
    private readonly string _prefix = name + "/";

    /// <summary>Our candidate key once <see cref="CampaignAsync"/> returned; null otherwise.</summary>
    public string? Key { get; private set; }

    /// <summary>Our key's create revision while we lead (a fencing token, as for the mutex).</summary>
    public long LeaderRevision { get; private set; }

    /// <summary>Waits until we lead. Cancelling the wait withdraws the candidacy.</summary>
    public async Task CampaignAsync(string value, CancellationToken cancellationToken = default)
    {
        var key = _prefix + session.HexId;
        var queued = await client.Txn()
            .If(Compare.CreateRevision(key) == 0)
            .Then(Op.Put(key, value, session.Id))
            .Else(Op.Get(key))
            .CommitAsync(cancellationToken);
        long revision;
        if (queued.Succeeded)
        {
            revision = queued.Revision;
        }
        else
        {
            var existing = ((GetResult)queued.Results[0]).Kvs[0];
            revision = existing.CreateRevision;
            if (existing.ValueText != value)
            {
                await client.Txn()
                    .If(Compare.CreateRevision(key) == revision)
                    .Then(Op.Put(key, value, session.Id))
                    .CommitAsync(cancellationToken);
            }
        }
        try
        {
            await RecipeSupport.WaitPredecessorsGoneAsync(client, _prefix, revision - 1, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await client.DeleteAsync(key, cancellationToken: CancellationToken.None);
            throw;
        }
        var mine = await client.GetAsync(key, cancellationToken: cancellationToken);
        if (mine.Kvs.Count == 0 || mine.Kvs[0].CreateRevision != revision)
        {
            throw new LockLostException($"the candidate key {key} disappeared while campaigning");
        }
        Key = key;
        LeaderRevision = revision;
    }

    /// <summary>Sets a new value while leading; throws <see cref="LockLostException"/> when we no longer lead.</summary>
    public async Task ProclaimAsync(string value, CancellationToken cancellationToken = default)
    {
        var key = Key ?? throw new InvalidOperationException("not leading: call CampaignAsync first");
        var result = await client.Txn()
            .If(Compare.CreateRevision(key) == LeaderRevision)
            .Then(Op.Put(key, value, session.Id))
            .CommitAsync(cancellationToken);
        if (!result.Succeeded)
        {
            throw new LockLostException($"no longer the leader of {name}");
        }
    }

    /// <summary>Gives up leadership (no-op when not leading).</summary>
    public async Task ResignAsync(CancellationToken cancellationToken = default)
    {
        if (Key is not { } key)
        {
            return;
        }
        await client.Txn()
            .If(Compare.CreateRevision(key) == LeaderRevision)
            .Then(Op.Delete(key))
            .CommitAsync(cancellationToken);
        Key = null;
        LeaderRevision = 0;
    }

    /// <summary>The current leader, or null when nobody campaigns.</summary>
    public Task<Leader?> LeaderAsync(CancellationToken cancellationToken = default) =>
        CurrentLeaderAsync(client, name, cancellationToken);

    public static async Task<Leader?> CurrentLeaderAsync(ConclaveClient client, string name, CancellationToken cancellationToken = default) =>
        (await FirstAsync(client, name + "/", cancellationToken)).Leader;

    private static async Task<(Leader? Leader, long Revision)> FirstAsync(ConclaveClient client, string prefix, CancellationToken cancellationToken)
    {
        var first = await client.GetPrefixAsync(prefix, new GetOptions
        {
            SortTarget = SortTarget.Create,
            SortOrder = SortOrder.Ascend,
            Limit = 1,
        }, cancellationToken);
        var kv = first.Kvs.Count == 0 ? null : first.Kvs[0];
        return (kv is null ? null : new Leader(kv.Key, kv.ValueText, kv.CreateRevision), first.Revision);
    }

    /// <summary>
    /// The leader now and after every change of leader or of its value, until cancelled.
    /// Intermediate leaders that came and went between two reads may be skipped; the last
    /// one yielded is always the current one once the election is quiet. Nothing is yielded
    /// while there is no leader.
    /// </summary>
    public IAsyncEnumerable<Leader> ObserveAsync(CancellationToken cancellationToken = default) =>
        Observe(client, name, cancellationToken);

    public static async IAsyncEnumerable<Leader> Observe(
        ConclaveClient client, string name, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var prefix = name + "/";
        Leader? last = null;
        var (leader, revision) = await FirstAsync(client, prefix, cancellationToken);
        if (leader is not null)
        {
            last = leader;
            yield return leader;
        }
        await foreach (var e in client.WatchPrefixAsync(prefix, new WatchOptions { StartRevision = revision + 1 }, cancellationToken))
        {
            (leader, _) = await FirstAsync(client, prefix, cancellationToken);
            if (leader is not null && leader != last)
            {
                last = leader;
                yield return leader;
            }
        }
    }
}
