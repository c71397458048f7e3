using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Conclave.Testing.Etcd;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;

namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// Issue 4: kill -9 the leader of a 3-member cluster of real processes while dotnet-etcd clients
/// write; a new leader is elected, the writers carry on on the other endpoints, every
/// acknowledged write is readable on every member, and the killed member, restarted on its data
/// dir after the leader compacted its log past it, is caught up by a snapshot.
/// </summary>
[Collection(RealClusterCollection.Name)]
public sealed partial class KillLeaderTests(ITestOutputHelper output)
{
    /// <summary>Log entries the members keep behind a snapshot for slow followers (--snapshot-catchup-entries; 5,000 by default).</summary>
    private const long CatchUpEntries = 200;

    private const int Writers = 4;
    private const int FillWriters = 12;

    [GeneratedRegex(@"snapshot saved at index (\d+)")]
    private static partial Regex SnapshotSaved();

    [EtcdFact]
    public async Task Kill_the_leader_while_clients_write_then_the_restarted_member_catches_up_by_snapshot()
    {
        await using var cluster = await ConclaveProcessCluster.StartAsync(3, "--snapshot-count", "50", "--snapshot-catchup-entries", "200");
        var members = cluster.Members;
        var clients = members.Select(m => new EtcdClient(m.ClientUrl)).ToArray();
        using var stop = new CancellationTokenSource();
        try
        {
            var clock = Stopwatch.StartNew();
            var acked = new ConcurrentDictionary<string, string>();
            var inFlight = new ConcurrentDictionary<string, string>();
            var total = new AckCounter();
            var perWriter = Enumerable.Range(0, Writers + FillWriters).Select(_ => new AckCounter()).ToArray();
            var failures = new ConcurrentBag<string>();

            // Each writer puts unique keys in order; a failed put (dead endpoint, no leader, deadline)
            // is retried with the same key and value on the next endpoint. Acknowledged = answered.
            async Task WriteAsync(int writer, string prefix)
            {
                await Task.Yield();
                var endpoint = writer % clients.Length;
                for (var seq = 0; !stop.IsCancellationRequested;)
                {
                    var key = $"{prefix}{seq:D6}";
                    var value = $"w{writer}-{seq}";
                    inFlight[key] = value;
                    try
                    {
                        await clients[endpoint].PutAsync(
                            new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) },
                            deadline: DateTime.UtcNow.AddSeconds(3), cancellationToken: stop.Token);
                        acked[key] = value;
                        inFlight.TryRemove(key, out _);
                        total.Increment();
                        perWriter[writer].Increment();
                        seq++;
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                    }
                    catch (RpcException e)
                    {
                        if (!stop.IsCancellationRequested)
                        {
                            failures.Add($"writer {writer} on {members[endpoint].Name}: {e.StatusCode} {e.Status.Detail}");
                            endpoint = (endpoint + 1) % clients.Length;
                        }
                    }
                }
            }

            var writers = Enumerable.Range(0, Writers).Select(w => WriteAsync(w, $"/kill/w{w}/")).ToList();
            await total.WaitForAsync(200, "200 acknowledged puts before the kill", ConclaveProcessCluster.Patience);

            var ackedBeforeKill = perWriter.Select(c => c.Count).ToArray();
            // The leader now (leadership may have moved since the start on a busy machine).
            var leader = await cluster.WaitForLeaderAsync();
            var atKill = await ConclaveProcessCluster.StatusAsync(leader);
            var leaderId = atKill.Header.MemberId;
            await leader.KillAsync();
            var killedAt = clock.Elapsed;
            var newLeader = await cluster.WaitForLeaderAsync(notLeader: leaderId);
            var termAfterKill = (await ConclaveProcessCluster.StatusAsync(newLeader)).RaftTerm;
            Assert.True(termAfterKill > atKill.RaftTerm, $"the new leader's term {termAfterKill} is not past the killed leader's {atKill.RaftTerm}: the killed member was not the leader");
            output.WriteLine($"{clock.Elapsed}: killed leader {leader.Name} at {killedAt} after {total.Count} puts; new leader {newLeader.Name}");
            for (var w = 0; w < Writers; w++)
            {
                await perWriter[w].WaitForAsync(ackedBeforeKill[w] + 50, $"writer {w} to carry on after the kill (50 more acknowledged puts)", ConclaveProcessCluster.Patience);
            }

            // Everything the killed member could share with the survivors' logs is at or below this index.
            var survivors = members.Where(m => m != leader).ToList();
            var raftIndexAfterKill = (await Task.WhenAll(survivors.Select(ConclaveProcessCluster.StatusAsync))).Max(s => s.RaftIndex);
            var compactedPast = raftIndexAfterKill + CatchUpEntries + 1;
            var snapshotPastKill = newLeader.WaitForLineAsync(
                line => SnapshotSaved().Match(line) is { Success: true } m && ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > compactedPast,
                $"a snapshot past index {compactedPast} (the log compacted past the killed member)",
                TimeSpan.FromSeconds(120));
            writers.AddRange(Enumerable.Range(Writers, FillWriters).Select(w => WriteAsync(w, $"/kill/fill{w}/")));
            await snapshotPastKill;
            output.WriteLine($"{clock.Elapsed}: snapshot past {compactedPast} on {newLeader.Name}; {total.Count} puts acknowledged, {failures.Count} failed attempts: {string.Join(" | ", failures.Take(8))}");
            await stop.CancelAsync();
            await Task.WhenAll(writers);

            foreach (var survivor in survivors)
            {
                await AssertHasEveryAcknowledgedWriteAsync(survivor, acked, inFlight);
            }

            // Restart the killed member on its data dir: its log ends before the leader's first
            // entry, so the leader must send a snapshot.
            var fromLine = leader.LineCount;
            leader.Start();
            var installed = await leader.WaitForLineAsync(
                line => line.Contains("installed the leader's snapshot at index", StringComparison.Ordinal),
                "the restarted member to install the leader's snapshot", ConclaveProcessCluster.Patience, fromLine);
            // From the new leader, or from the other survivor if the restart caused an election.
            var sent = await await Task.WhenAny(survivors.Select(s => s.WaitForLineAsync(
                line => line.Contains("sent snapshot", StringComparison.Ordinal) && line.Contains($"to {leaderId:x16}: Delivered", StringComparison.Ordinal),
                "a survivor to report a snapshot delivered to the restarted member", ConclaveProcessCluster.Patience)));

            output.WriteLine($"{clock.Elapsed}: {leader.Name} restarted: {installed.Trim()} / {sent.Trim()}");
            var final = await clients[members.ToList().IndexOf(newLeader)].PutAsync("/kill/final", "after-restart");
            await ConclaveProcessCluster.WaitReadyAsync(leader); // a linearizable read: applied up to a read index past the final put
            // A new client: the old one's connection to the killed member is in back-off.
            using var restartedClient = new EtcdClient(leader.ClientUrl);
            var serializable = await restartedClient.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/kill/final"), Serializable = true });
            var status = await ConclaveProcessCluster.StatusAsync(leader);

            output.WriteLine($"{clock.Elapsed}: {leader.Name} serves the final put (revision {final.Header.Revision}); raft index {status.RaftIndex}");
            Assert.Equal("after-restart", Assert.Single(serializable.Kvs).Value.ToStringUtf8());
            Assert.Equal(final.Header.Revision, serializable.Kvs[0].ModRevision);
            Assert.False(status.IsLearner);
            Assert.Equal(await ConclaveProcessCluster.MemberIdAsync(await cluster.WaitForLeaderAsync()), status.Leader);
            await AssertHasEveryAcknowledgedWriteAsync(leader, acked, inFlight);
            output.WriteLine($"{clock.Elapsed}: every acknowledged put is on {leader.Name}");
            Assert.True(acked.Count > CatchUpEntries, $"only {acked.Count} acknowledged puts; installed: {installed}; sent: {sent}");
        }
        finally
        {
            // Writers still running after a failed assertion stop before their clients go away.
            await stop.CancelAsync();
            foreach (var client in clients)
            {
                client.Dispose();
            }

            output.WriteLine($"clients disposed");
        }
    }

    /// <summary>
    /// A linearizable Range of /kill/ on the member holds every acknowledged key with its value,
    /// and nothing else but keys whose put was still unanswered when the writers stopped.
    /// </summary>
    private static async Task AssertHasEveryAcknowledgedWriteAsync(
        ClusterMemberProcess member, IReadOnlyDictionary<string, string> acked, IReadOnlyDictionary<string, string> inFlight)
    {
        using var client = new EtcdClient(member.ClientUrl);
        var range = await client.GetAsync(
            new RangeRequest { Key = ByteString.CopyFromUtf8("/kill/"), RangeEnd = ByteString.CopyFromUtf8("/kill0") },
            deadline: DateTime.UtcNow.AddSeconds(30));
        var stored = range.Kvs.ToDictionary(kv => kv.Key.ToStringUtf8(), kv => kv.Value.ToStringUtf8());
        var missing = acked.Where(a => !stored.TryGetValue(a.Key, out var v) || v != a.Value).Select(a => a.Key).Order(StringComparer.Ordinal).ToList();
        var unexpected = stored.Where(s => !acked.ContainsKey(s.Key) && !(inFlight.TryGetValue(s.Key, out var v) && v == s.Value) && s.Key != "/kill/final")
            .Select(s => s.Key).ToList();
        Assert.True(missing.Count == 0, $"{member.Name} lacks {missing.Count} of {acked.Count} acknowledged puts, first: {string.Join(", ", missing.Take(5))}");
        Assert.True(unexpected.Count == 0, $"{member.Name} holds keys nobody wrote: {string.Join(", ", unexpected.Take(5))}");
    }
}
