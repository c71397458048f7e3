using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Conclave.Client.Recipes;
using Xunit.Abstractions;

namespace Conclave.Client.Tests;

/// <summary>
/// The recipes against a three-member cluster of real processes with faults: members killed
/// with -9 and restarted, client processes killed with -9. Written once and run against both
/// targets (<see cref="ConclaveRecipeFaultTests"/>, <see cref="EtcdRecipeFaultTests"/>), so the
/// same assertions show that the recipes hold on Conclave and that they speak etcd's protocol.
/// Both classes share the "clusters" collection: one cluster runs at a time.
/// </summary>
public abstract partial class RecipeFaultTests<TFixture>(TFixture fixture, ITestOutputHelper output) : IClassFixture<TFixture>
    where TFixture : ClusterFixture
{
    /// <summary>Lease TTL of the mutex contenders, in seconds: long enough to ride out a leader election.</summary>
    private const long MutexTtl = 5;

    /// <summary>Lease TTL of the child processes, in seconds: short, so the tests that wait for expiry stay short.</summary>
    private const long ChildTtl = 2;

    private readonly TFixture _fixture = fixture;

    private string Target => _fixture.Cluster.Target;

    /// <summary>One holding of the lock as a contender saw it, in milliseconds of one stopwatch.</summary>
    private sealed record Hold(int Contender, long Token, double StartMs, double EndMs, bool Lost);

    [ClusterFact]
    public async Task Mutex_holders_never_overlap_while_the_leader_is_killed_and_restarted()
    {
        const int Contenders = 6;
        const int StepIncrements = 4;
        await using var admin = _fixture.NewClient();
        var initial = await admin.PutAsync("fmx/counter", "0:0");

        // Every value the counter takes, from the watch (which itself must ride out the faults).
        using var stopWatch = new CancellationTokenSource();
        var history = new List<WatchEvent>();
        var historyAdvanced = new SemaphoreSlim(0);
        var recorder = Task.Run(async () =>
        {
            await foreach (var e in admin.WatchAsync("fmx/counter", new WatchOptions { StartRevision = initial.Revision + 1 }, stopWatch.Token))
            {
                lock (history)
                {
                    history.Add(e);
                }
                historyAdvanced.Release();
            }
        });

        var clock = Stopwatch.StartNew();
        var holds = new ConcurrentQueue<Hold>();
        var acknowledged = new ConcurrentQueue<string>(); // values whose guarded put answered "applied"
        var refused = new ConcurrentQueue<string>();      // values whose guarded put answered "not holding"
        var unknown = new ConcurrentQueue<string>();      // values whose guarded put had no answer
        var errors = new ConcurrentDictionary<string, int>();
        var progress = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();

        async Task ContendAsync(int contender)
        {
            await using var client = _fixture.NewClient(rotate: contender);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var mutex = await DistributedMutex.AcquireAsync(client, "fmx/lock", ttlSeconds: MutexTtl, cancellationToken: stop.Token);
                    var start = clock.Elapsed.TotalMilliseconds;
                    try
                    {
                        // Read-modify-write under the lock. The value names its writer's token, so the
                        // recorded history shows which writes applied, also those whose answer was lost.
                        var current = (await client.GetAsync("fmx/counter")).Kvs[0].ValueText;
                        var next = $"{Counter(current) + 1}:{mutex.FencingToken}";
                        try
                        {
                            if (await mutex.GuardedPutAsync("fmx/counter", next))
                            {
                                acknowledged.Enqueue(next);
                                progress.Release();
                            }
                            else
                            {
                                refused.Enqueue(next);
                            }
                        }
                        catch (ConclaveException)
                        {
                            unknown.Enqueue(next);
                            throw;
                        }
                    }
                    finally
                    {
                        holds.Enqueue(new Hold(contender, mutex.FencingToken, start, clock.Elapsed.TotalMilliseconds, mutex.Lost.IsCancellationRequested));
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is ConclaveException or LockLostException)
                {
                    // A request that met the fault: the contender queues again.
                    errors.AddOrUpdate(e.GetType().Name, 1, (_, n) => n + 1);
                }
            }
        }

        var contenders = Enumerable.Range(0, Contenders).Select(c => Task.Run(() => ContendAsync(c))).ToList();
        async Task ProgressAsync(string after)
        {
            for (var i = 0; i < StepIncrements; i++)
            {
                await progress.WaitAsync().Within($"{StepIncrements} more guarded increments {after} ({Target})");
            }
        }

        try
        {
            await ProgressAsync("before any fault");
            for (var round = 1; round <= 2; round++)
            {
                var leader = await _fixture.LeaderAsync();
                await _fixture.Cluster.KillAsync(leader);
                output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: killed leader m{leader}");
                await ProgressAsync($"with the leader m{leader} killed (round {round})");
                await _fixture.RestartAsync(leader);
                output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: m{leader} restarted and ready");
                await ProgressAsync($"after m{leader} restarted (round {round})");
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(contenders).Within($"every contender to stop ({Target})");
            await _fixture.HealAsync();
        }

        // The history up to the counter's final value.
        var final = (await admin.GetAsync("fmx/counter")).Kvs[0];
        while (true)
        {
            lock (history)
            {
                if (history.Count > 0 && history[^1].Revision >= final.ModRevision)
                {
                    break;
                }
            }
            await historyAdvanced.WaitAsync().Within($"the watch to report the counter's last write at revision {final.ModRevision} ({Target})");
        }
        await stopWatch.CancelAsync();
        await recorder.ContinueWith(_ => { }, TaskScheduler.Default);

        var applied = history.Select(e => (e.Type, Value: e.Kv?.ValueText ?? "")).ToList();
        var ordered = holds.OrderBy(h => h.StartMs).ToList();
        output.WriteLine($"{Target}: {holds.Count} holds, {applied.Count} applied increments ({acknowledged.Count} acknowledged, " +
            $"{refused.Count} refused, {unknown.Count} unanswered), lost during a hold: {ordered.Count(h => h.Lost)}, " +
            $"errors: {string.Join(", ", errors.Select(kv => $"{kv.Key} x{kv.Value}"))}, {clock.Elapsed.TotalSeconds:0.0} s");

        // The counter went 1, 2, 3, ... with every write by a strictly newer holder: a write under an
        // overlapping holder would repeat a number or carry an older token.
        Assert.All(applied, a => Assert.Equal(WatchEventType.Put, a.Type));
        Assert.Equal(Enumerable.Range(1, applied.Count), applied.Select(a => Counter(a.Value)));
        var tokens = applied.Select(a => Token(a.Value)).ToList();
        Assert.True(tokens.Zip(tokens.Skip(1)).All(p => p.First < p.Second), $"tokens of applied writes are not increasing: {string.Join(", ", tokens)}");
        Assert.Equal(applied.Count, Counter(final.ValueText));

        // Every acknowledged write applied, no refused one did, and nothing else did.
        var appliedValues = applied.Select(a => a.Value).ToHashSet();
        Assert.Subset(appliedValues, acknowledged.ToHashSet());
        Assert.Empty(appliedValues.Intersect(refused));
        Assert.Subset(acknowledged.Concat(unknown).ToHashSet(), appliedValues);
        Assert.True(acknowledged.Count >= StepIncrements * 5, $"expected at least {StepIncrements * 5} acknowledged increments, got {acknowledged.Count}");

        // Holds seen by the contenders never overlap, and tokens grow in acquisition order. A hold whose
        // holder was told it lost the lock (its lease expired) claims no exclusivity and is left out.
        var kept = ordered.Where(h => !h.Lost).ToList();
        foreach (var (earlier, later) in kept.Zip(kept.Skip(1)))
        {
            Assert.True(earlier.EndMs <= later.StartMs,
                $"two holders at once: contender {earlier.Contender} (token {earlier.Token}) held until {earlier.EndMs:0.0} ms, " +
                $"contender {later.Contender} (token {later.Token}) from {later.StartMs:0.0} ms");
            Assert.True(earlier.Token < later.Token, $"token {later.Token} acquired after token {earlier.Token}");
        }

        // Contenders released their keys, or their keys go with their lease (a release that met a fault).
        await WaitForPrefixEmptyAsync(admin, "fmx/lock/").Within($"every lock key to be released or to expire with its {MutexTtl} s lease ({Target})");
    }

    [ClusterFact]
    public async Task Election_moves_to_another_contender_within_the_ttl_when_the_leader_process_is_killed()
    {
        await using var leaderProcess = TestAppProcess.Start("campaign", _fixture.Endpoints, ChildTtl, "fel", "process-a");
        var elected = await leaderProcess.WaitForLineAsync("leader ").Within($"the child process to win the empty election ({Target})");
        output.WriteLine($"child: {elected}");

        await using var client = _fixture.NewClient();
        await using var session = await client.GrantKeptLeaseAsync(ChildTtl);
        var contender = new Election(client, "fel", session);
        var campaign = contender.CampaignAsync("in-test-b");
        await WaitForKeysAsync(client, "fel/", 2).Within($"the second contender to queue behind the child ({Target})");
        Assert.False(campaign.IsCompleted, "the second contender must wait while the child leads");

        using var stop = new CancellationTokenSource();
        await using var observed = Election.Observe(client, "fel", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await observed.MoveNextAsync().AsTask().Within($"the observer to see the child leading ({Target})"));
        Assert.Equal(("process-a", elected.Split(' ')[1]), (observed.Current.Value, observed.Current.Key));

        var killedAt = Stopwatch.GetTimestamp();
        await leaderProcess.KillAsync();
        Assert.True(await observed.MoveNextAsync().AsTask().Within($"the observer to see a new leader after the child was killed ({Target})"));
        var takeover = Stopwatch.GetElapsedTime(killedAt);
        Assert.Equal(("in-test-b", "fel/" + session.HexId), (observed.Current.Value, observed.Current.Key));
        await campaign.Within("the second contender's campaign to return once it leads");
        Assert.Equal("fel/" + session.HexId, contender.Key);
        Assert.True(contender.LeaderRevision > long.Parse(elected.Split(' ')[2], CultureInfo.InvariantCulture));

        // The child's lease expires at most a TTL after its last renewal; the store then needs an
        // expiry check and a replicated revoke. Twice the TTL plus 5 s is a generous bound for that.
        var bound = TimeSpan.FromSeconds((2 * ChildTtl) + 5);
        output.WriteLine($"{Target}: takeover observed {takeover.TotalSeconds:0.00} s after kill -9 (TTL {ChildTtl} s, bound {bound.TotalSeconds} s)");
        Assert.True(takeover < bound, $"takeover took {takeover.TotalSeconds:0.00} s, more than {bound.TotalSeconds} s for a {ChildTtl} s lease");
        await contender.ResignAsync();
        await stop.CancelAsync();
    }

    [ClusterFact]
    public async Task Registry_instances_of_a_killed_process_disappear_and_new_ones_appear()
    {
        await using var first = TestAppProcess.Start("register", _fixture.Endpoints, ChildTtl, "fsvc", "i-1", "9001");
        await using var second = TestAppProcess.Start("register", _fixture.Endpoints, ChildTtl, "fsvc", "i-2", "9002");
        await first.WaitForLineAsync("registered ").Within($"instance i-1 to register ({Target})");
        await second.WaitForLineAsync("registered ").Within($"instance i-2 to register ({Target})");

        await using var client = _fixture.NewClient();
        var registry = new ServiceRegistry(client);
        var found = await registry.DiscoverAsync("fsvc");
        Assert.Equal([("i-1", 9001), ("i-2", 9002)], found.Select(i => (i.Id, i.Port)));

        using var stop = new CancellationTokenSource();
        await using var sets = registry.WatchAsync("fsvc", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await sets.MoveNextAsync().AsTask().Within("the registry watch's first set"));
        Assert.Equal(["i-1", "i-2"], sets.Current.Select(i => i.Id));

        await first.KillAsync();
        Assert.True(await sets.MoveNextAsync().AsTask().Within($"the watch to report i-1 gone after its process was killed ({Target})"));
        Assert.Equal(["i-2"], sets.Current.Select(i => i.Id));
        Assert.Equal(["i-2"], (await registry.DiscoverAsync("fsvc")).Select(i => i.Id));

        await using var third = TestAppProcess.Start("register", _fixture.Endpoints, ChildTtl, "fsvc", "i-3", "9003");
        await third.WaitForLineAsync("registered ").Within($"instance i-3 to register ({Target})");
        Assert.True(await sets.MoveNextAsync().AsTask().Within($"the watch to report the new instance i-3 ({Target})"));
        Assert.Equal(["i-2", "i-3"], sets.Current.Select(i => i.Id));
        Assert.Equal([("i-2", 9002), ("i-3", 9003)], (await registry.DiscoverAsync("fsvc")).Select(i => (i.Id, i.Port)));
        await stop.CancelAsync();
    }

    [ClusterFact]
    public async Task A_watch_on_a_restarted_member_resumes_where_it_stopped_and_resyncs_after_compaction()
    {
        var member = (await _fixture.LeaderAsync() + 1) % 3;
        var others = Enumerable.Range(0, 3).Where(m => m != member).ToArray();
        await using var writer = _fixture.NewClientOf(others);
        await using var watcher = _fixture.NewClientOf(member);
        try
        {
            var seed = await writer.PutAsync("frw/seed", "0");
            using var stop = new CancellationTokenSource();
            await using var events = watcher.WatchPrefixAsync("frw/", new WatchOptions { StartRevision = seed.Revision + 1 }, stop.Token)
                .GetAsyncEnumerator(stop.Token);
            var a1 = await writer.PutAsync("frw/a", "1");
            Assert.True(await events.MoveNextAsync().AsTask().Within("the first put"));
            Assert.Equal(a1.Revision, events.Current.Revision);

            // Outage 1: the watch's only member is down while three changes happen.
            await _fixture.Cluster.KillAsync(member);
            var missed = new[]
            {
                (WatchEventType.Put, (await writer.PutAsync("frw/a", "2")).Revision),
                (WatchEventType.Delete, (await writer.DeleteAsync("frw/seed")).Revision),
                (WatchEventType.Put, (await writer.PutAsync("frw/b", "1")).Revision),
            };
            await _fixture.RestartAsync(member);
            var resumed = new List<(WatchEventType, long)>();
            for (var i = 0; i < missed.Length; i++)
            {
                Assert.True(await events.MoveNextAsync().AsTask().Within($"change {i + 1} of 3 made while the member was down ({Target})"));
                resumed.Add((events.Current.Type, events.Current.Revision));
            }
            Assert.Equal(missed, resumed);

            // Outage 2: the changes it missed are compacted away before it comes back.
            await _fixture.Cluster.KillAsync(member);
            await writer.PutAsync("frw/a", "3");
            await writer.DeleteAsync("frw/b");
            var last = await writer.PutAsync("frw/c", "1");
            await writer.CompactAsync(last.Revision);
            await _fixture.RestartAsync(member);
            Assert.True(await events.MoveNextAsync().AsTask().Within($"one resync event after the compaction ({Target})"));
            var resync = events.Current;
            Assert.Equal(WatchEventType.Resync, resync.Type);
            Assert.True(resync.Revision >= last.Revision, $"snapshot at {resync.Revision}, before the last write {last.Revision}");
            Assert.Equal(["frw/a=3", "frw/c=1"], resync.Snapshot.Select(kv => $"{kv.Key}={kv.ValueText}"));

            var live = await writer.PutAsync("frw/d", "1");
            Assert.True(await events.MoveNextAsync().AsTask().Within("the live put after the resync"));
            Assert.Equal((WatchEventType.Put, live.Revision, "frw/d"), (events.Current.Type, events.Current.Revision, events.Current.Kv!.Key));
            await stop.CancelAsync();
        }
        finally
        {
            await _fixture.HealAsync();
        }
    }

    [ClusterFact]
    public async Task Reads_writes_and_a_watch_continue_when_a_member_is_killed()
    {
        var leader = await _fixture.LeaderAsync();
        var victim = (leader + 1) % 3;
        var survivor = (leader + 2) % 3;
        await using var client = _fixture.NewClient();
        // The watch client knows the victim and one survivor; its watch goes to the victim.
        // Its first request (the seed put) goes to the survivor, so the watch goes to the victim.
        await using var watchClient = _fixture.NewClientOf(victim, survivor);
        try
        {
            var start = await watchClient.PutAsync("fo/seed", "0");
            using var stop = new CancellationTokenSource();
            await using var events = watchClient.WatchPrefixAsync("fo/", new WatchOptions { StartRevision = start.Revision + 1 }, stop.Token)
                .GetAsyncEnumerator(stop.Token);
            var before = await client.PutAsync("fo/k", "before");
            Assert.True(await events.MoveNextAsync().AsTask().Within("the put before the kill"));
            Assert.Equal(before.Revision, events.Current.Revision);
            Assert.Equal(_fixture.Endpoints[victim], watchClient.LastWatchMember?.Authority);

            await _fixture.Cluster.KillAsync(victim);

            var revisions = new List<long>();
            for (var i = 0; i < 6; i++)
            {
                revisions.Add((await client.PutAsync("fo/k", $"after-{i}").Within($"put {i} after the kill")).Revision);
                Assert.Equal($"after-{i}", (await client.GetAsync("fo/k").Within($"get {i} after the kill")).Kvs[0].ValueText);
            }
            var seen = new List<long>();
            while (seen.Count < revisions.Count)
            {
                Assert.True(await events.MoveNextAsync().AsTask().Within($"the watch to resume on a live member and deliver every later put ({Target})"));
                seen.Add(events.Current.Revision);
            }
            Assert.Equal(revisions, seen);
            Assert.Equal(_fixture.Endpoints[survivor], watchClient.LastWatchMember?.Authority);
            await stop.CancelAsync();
        }
        finally
        {
            await _fixture.HealAsync();
        }
    }

    [ClusterFact]
    public async Task Reads_wait_out_the_election_when_the_leader_is_killed_and_writes_follow()
    {
        await using var client = _fixture.NewClient();
        try
        {
            var before = await client.PutAsync("fl/k", "before");
            await _fixture.Cluster.KillAsync(await _fixture.LeaderAsync());
            var clock = Stopwatch.StartNew();

            // A linearizable read needs a leader: it is retried on the survivors until they elected one.
            var read = await client.GetAsync("fl/k").Within($"a read after the leader was killed ({Target})");
            var readAfter = clock.Elapsed;
            Assert.Equal(("before", before.Revision), (read.Kvs[0].ValueText, read.Kvs[0].ModRevision));
            var after = await client.PutAsync("fl/k", "after").Within($"a write once a new leader is elected ({Target})");
            Assert.True(after.Revision > before.Revision);
            output.WriteLine($"{Target}: after the leader's kill -9, read answered in {readAfter.TotalSeconds:0.00} s, write in {clock.Elapsed.TotalSeconds:0.00} s");
            clock.Restart();
            await _fixture.HealAsync();
            output.WriteLine($"{Target}: restart of the killed member until it answers a linearizable read: {clock.Elapsed.TotalSeconds:0.00} s");
        }
        finally
        {
            await _fixture.HealAsync();
        }
    }

    /// <summary>Returns once no key is left under <paramref name="prefix"/>.</summary>
    private static async Task WaitForPrefixEmptyAsync(ConclaveClient client, string prefix)
    {
        using var stop = new CancellationTokenSource();
        var now = await client.GetPrefixAsync(prefix, new GetOptions { CountOnly = true });
        if (now.Count == 0)
        {
            return;
        }
        await foreach (var _ in client.WatchPrefixAsync(prefix, new WatchOptions { StartRevision = now.Revision + 1 }, stop.Token))
        {
            if ((await client.GetPrefixAsync(prefix, new GetOptions { CountOnly = true })).Count == 0)
            {
                return;
            }
        }
    }

    private static int Counter(string value) => int.Parse(value.Split(':')[0], CultureInfo.InvariantCulture);

    private static long Token(string value) => long.Parse(value.Split(':')[1], CultureInfo.InvariantCulture);

    /// <summary>The keys under <paramref name="prefix"/> once there are at least <paramref name="count"/> of them.</summary>
    private static async Task<IReadOnlyList<KeyValue>> WaitForKeysAsync(ConclaveClient client, string prefix, int count)
    {
        using var stop = new CancellationTokenSource();
        var now = await client.GetPrefixAsync(prefix);
        if (now.Kvs.Count >= count)
        {
            return now.Kvs;
        }
        await foreach (var _ in client.WatchPrefixAsync(prefix, new WatchOptions { StartRevision = now.Revision + 1 }, stop.Token))
        {
            var current = await client.GetPrefixAsync(prefix);
            if (current.Kvs.Count >= count)
            {
                return current.Kvs;
            }
        }
        throw new InvalidOperationException("the watch ended");
    }
}

[Collection("clusters")]
public sealed class ConclaveRecipeFaultTests(ConclaveClusterFixture fixture, ITestOutputHelper output)
    : RecipeFaultTests<ConclaveClusterFixture>(fixture, output);

[Collection("clusters")]
public sealed class EtcdRecipeFaultTests(EtcdClusterFixture fixture, ITestOutputHelper output)
    : RecipeFaultTests<EtcdClusterFixture>(fixture, output);
