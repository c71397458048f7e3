using System.Net;
using Conclave.Server.Transport;

namespace Conclave.Server.Tests.Member;

/// <summary>
/// Members in this process talking over real loopback TCP (<see cref="TcpPeerTransport"/>, frame
/// limit from each member's options), started from data dirs under a root the caller owns (it
/// may hold restored data dirs) as `conclave serve` would. Each member listens on the port of its
/// first peer URL in the initial cluster, which must be a free 127.0.0.1 port.
/// </summary>
internal sealed class TcpCluster : IAsyncDisposable
{
    private TcpCluster()
    {
    }

    public List<ConclaveMember> Members { get; } = [];

    /// <summary>Every member's log lines, for failure messages.</summary>
    public TestLog Log { get; } = new();

    /// <summary>
    /// Starts one member per entry of <paramref name="initial"/> (data dir root/name, seed 1, 1 MiB
    /// WAL segments); <paramref name="configure"/> sets the rest (intervals, limits, client URLs).
    /// On a failed start the members already started are stopped.
    /// </summary>
    public static async Task<TcpCluster> StartAsync(
        string root,
        IReadOnlyDictionary<string, IReadOnlyList<string>> initial,
        string token,
        Func<ConclaveMemberOptions, ConclaveMemberOptions> configure)
    {
        var c = new TcpCluster();
        try
        {
            var starts = initial.Select(kv =>
            {
                var options = configure(new ConclaveMemberOptions
                {
                    Name = kv.Key,
                    DataDir = Path.Combine(root, kv.Key),
                    InitialCluster = initial,
                    InitialClusterToken = token,
                    RandomSeed = 1,
                    LoggerFactory = c.Log,
                    WalSegmentBytes = 1 << 20,
                    Transport = null!,
                });
                var transport = new TcpPeerTransport(
                    new TcpPeerTransportOptions
                    {
                        ClusterId = ConclaveMember.ClusterIdOf(options),
                        LocalId = ConclaveMember.MemberIdOf(options),
                        ListenEndPoint = new IPEndPoint(IPAddress.Loopback, new Uri(kv.Value[0]).Port),
                        MaxFrameBytes = options.PeerMaxFrameBytes,
                    },
                    TimeProvider.System);
                return ConclaveMember.StartAsync(options with { Transport = transport });
            }).ToList();
            c.Members.AddRange(await Task.WhenAll(starts));
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
        return c;
    }

    /// <summary>The leader every member agrees on (awaited on the members' leader signals).</summary>
    public Task<ConclaveMember> LeaderAsync() => TestCluster.AgreedLeaderAsync(Members, () => Log.ToString());

    /// <summary>
    /// Waits until every member has applied <paramref name="index"/>. Polled: a member exposes no
    /// applied-index signal to await.
    /// </summary>
    public Task AppliedAsync(ulong index) =>
        Kv.EventuallyAsync(() => Members.All(m => m.AppliedIndex >= index), $"every member to apply index {index}", () => Log.ToString());

    public async ValueTask DisposeAsync()
    {
        foreach (var m in Members)
        {
            await m.DisposeAsync();
        }
    }
}
