using Conclave.Api.Etcd.Protocol;
using Conclave.Robustness.Cluster;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Robustness.Faults;

public enum FaultKind
{
    KillFollower,
    KillLeader,
    KillMajority,
    KillAll,
    PauseLeader,

    /// <summary>The leader and a minority (for 3 members: the leader alone) cut off from the rest, both ways.</summary>
    PartitionLeaderWithMinority,

    /// <summary>The leader's messages to every other member are lost; it still hears them.</summary>
    LeaderCannotSend,

    /// <summary>Every peer link delayed by 50–200 ms.</summary>
    DelayPeers,
}

/// <summary>One injected fault: what, on which members, when (seconds since the run started), and how long it was held.</summary>
public sealed record FaultRecord(FaultKind Kind, IReadOnlyList<int> Members, double AtSeconds, double HeldSeconds, bool Recovered);

/// <summary>
/// Injects one fault at a time and undoes it. Which fault and on whom is drawn from the seeded
/// <see cref="Random"/>; who leads is asked from the cluster (Maintenance.Status) at that moment.
/// </summary>
public sealed class FaultInjector(IClusterUnderTest cluster, Random random)
{
    private static readonly FaultKind[] All = Enum.GetValues<FaultKind>();

    public FaultKind Next() => All[random.Next(All.Length)];

    /// <summary>Applies <paramref name="kind"/>; returns the members it touched and the action that undoes it.</summary>
    public async Task<(IReadOnlyList<int> Members, Func<Task> Recover)> InjectAsync(FaultKind kind)
    {
        var count = cluster.Count;
        var leader = await FindLeaderAsync() ?? random.Next(count);
        var followers = Enumerable.Range(0, count).Where(m => m != leader).ToList();
        switch (kind)
        {
            case FaultKind.KillFollower:
                {
                    var victim = followers[random.Next(followers.Count)];
                    await cluster.KillAsync(victim);
                    return ([victim], () => cluster.RestartAsync(victim));
                }

            case FaultKind.KillLeader:
                await cluster.KillAsync(leader);
                return ([leader], () => cluster.RestartAsync(leader));
            case FaultKind.KillMajority:
                {
                    var victims = Enumerable.Range(0, count).OrderBy(_ => random.Next()).Take((count / 2) + 1).Order().ToList();
                    await Task.WhenAll(victims.Select(cluster.KillAsync));
                    return (victims, () => Task.WhenAll(victims.Select(cluster.RestartAsync)));
                }

            case FaultKind.KillAll:
                {
                    var victims = Enumerable.Range(0, count).ToList();
                    await Task.WhenAll(victims.Select(cluster.KillAsync));
                    return (victims, () => Task.WhenAll(victims.Select(cluster.RestartAsync)));
                }

            case FaultKind.PauseLeader:
                await cluster.PauseAsync(leader);
                return ([leader], () => cluster.ResumeAsync(leader));
            case FaultKind.PartitionLeaderWithMinority:
                {
                    var side = followers.OrderBy(_ => random.Next()).Take(((count - 1) / 2) - 1).Append(leader).Order().ToList();
                    cluster.Network.Partition(side);
                    return (side, Heal);
                }

            case FaultKind.LeaderCannotSend:
                foreach (var follower in followers)
                {
                    cluster.Network.BlockOneWay(leader, follower);
                }

                return ([leader], Heal);
            case FaultKind.DelayPeers:
                cluster.Network.SetDelay(TimeSpan.FromMilliseconds(50 + random.Next(151)));
                return (Enumerable.Range(0, count).ToList(), Heal);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "robustness: unknown fault");
        }
    }

    private Task Heal()
    {
        cluster.Network.Heal();
        return Task.CompletedTask;
    }

    /// <summary>The member most running members name as leader, or null when none answers within a second.</summary>
    public async Task<int?> FindLeaderAsync()
    {
        var answers = await Task.WhenAll(Enumerable.Range(0, cluster.Count).Where(cluster.IsUp).Select(async m =>
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(cluster.ClientUrls[m]);
                var status = await new Maintenance.MaintenanceClient(channel)
                    .StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(1));
                return status.Leader;
            }
            catch (RpcException)
            {
                return 0UL;
            }
        }));
        var leaderId = answers.Where(id => id != 0).GroupBy(id => id).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault();
        for (var m = 0; m < cluster.Count; m++)
        {
            if (leaderId != 0 && cluster.MemberId(m) == leaderId)
            {
                return m;
            }
        }

        return null;
    }
}
