using System.Text;
using Conclave.Server.Api;
using Conclave.Server.Transport;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Tests.Member;

/// <summary>
/// Whole clusters in one process: members over an <see cref="InMemoryTransportHub"/>, each with its
/// own data dir (real WAL and snapshot files) under a temp directory deleted at the end. Members run
/// on the real clock with short intervals (20 ms ticks, 300 ms election timeout); tests await events
/// with a deadline, never sleep.
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly Func<ConclaveMemberOptions, ConclaveMemberOptions> _configure;

    private TestCluster(int size, int seed, Func<ConclaveMemberOptions, ConclaveMemberOptions>? configure)
    {
        Hub = new InMemoryTransportHub(seed);
        Root = Path.Combine(Path.GetTempPath(), $"conclave-server-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Root);
        Seed = seed;
        _configure = configure ?? (o => o);
        for (var i = 1; i <= size; i++)
        {
            Initial[$"m{i}"] = [$"http://10.0.0.{i}:2380"];
        }
    }

    public InMemoryTransportHub Hub { get; }

    /// <summary>Every member's log lines (attach to a failure message when a test needs them).</summary>
    public TestLog Log { get; } = new();

    public string Root { get; }

    public int Seed { get; }

    public Dictionary<string, IReadOnlyList<string>> Initial { get; } = [];

    /// <summary>Running members by name.</summary>
    public Dictionary<string, ConclaveMember> Members { get; } = [];

    public IEnumerable<ConclaveMember> Running => Members.Values;

    public static async Task<TestCluster> StartAsync(int size, int seed = 1, Func<ConclaveMemberOptions, ConclaveMemberOptions>? configure = null)
    {
        var c = new TestCluster(size, seed, configure);
        await Task.WhenAll(c.Initial.Keys.ToList().Select(name => c.StartMemberAsync(name)));
        await c.LeaderAsync();
        // Start from a quiet log: every member's publish (its client URLs) applied everywhere, so
        // tests that count log entries see only their own.
        await Kv.EventuallyAsync(
            () => c.Running.All(m => c.Running.All(o => m.StateMachine.Members.TryGetValue(o.MemberId, out var x) && x.ClientUrls.Count > 0)),
            "every member's published client URLs applied on every member");
        return c;
    }

    public ConclaveMemberOptions Options(string name, InitialClusterState state = InitialClusterState.New, IReadOnlyDictionary<string, IReadOnlyList<string>>? initial = null)
    {
        initial ??= Initial;
        var id = MemberIdentity.MemberId(initial[name], "test");
        var options = new ConclaveMemberOptions
        {
            Name = name,
            DataDir = Path.Combine(Root, name),
            InitialCluster = initial,
            InitialClusterToken = "test",
            InitialClusterState = state,
            HeartbeatIntervalMs = 20,
            ElectionTimeoutMs = 300,
            RandomSeed = Seed,
            Transport = Hub.CreateTransport(id),
            ClientUrls = [$"http://client-{name}:2379"],
            LoggerFactory = Log,
            WalSegmentBytes = 1 << 20,
        };
        return _configure(options);
    }

    public async Task<ConclaveMember> StartMemberAsync(string name, InitialClusterState state = InitialClusterState.New, IReadOnlyDictionary<string, IReadOnlyList<string>>? initial = null)
    {
        var m = await ConclaveMember.StartAsync(Options(name, state, initial));
        lock (Members)
        {
            Members[name] = m;
        }
        return m;
    }

    public async Task StopMemberAsync(string name)
    {
        var m = Members[name];
        Members.Remove(name);
        await m.DisposeAsync();
    }

    public string NameOf(ConclaveMember m) => Members.First(kv => kv.Value == m).Key;

    /// <summary>The leader every running member agrees on (awaited).</summary>
    public Task<ConclaveMember> LeaderAsync() => AgreedLeaderAsync(Running.ToList());

    /// <summary>
    /// The leader every one of <paramref name="members"/> sees, itself among them and leading;
    /// awaited on the members' leader signals, at most <see cref="Deadline"/> (the failure message
    /// carries <paramref name="details"/>, e.g. the members' logs).
    /// </summary>
    public static async Task<ConclaveMember> AgreedLeaderAsync(IReadOnlyCollection<ConclaveMember> members, Func<string>? details = null)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var m in members)
            {
                await m.WaitForLeaderAsync(0, CancellationToken.None);
            }
            var leaders = members.Select(m => m.Leader).Distinct().ToList();
            if (leaders.Count == 1 && leaders[0] != 0 && members.FirstOrDefault(m => m.MemberId == leaders[0]) is { } leader && leader.IsLeader)
            {
                return leader;
            }
            // Members disagree for a moment during an election: wait for the next leader change.
            await Task.WhenAny(members.Select(m => m.WaitForLeaderAsync(m.Leader == 0 ? 0 : ulong.MaxValue, CancellationToken.None)));
        }
        throw new TimeoutException($"expected the running members to agree on a leader within {Deadline.TotalSeconds} s\n{details?.Invoke()}");
    }

    public ConclaveMember Follower(ConclaveMember leader) => Running.First(m => m != leader);

    public async ValueTask DisposeAsync()
    {
        foreach (var m in Members.Values.ToList())
        {
            await m.DisposeAsync();
        }
        Members.Clear();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Kv
{
    public static ReadOnlyMemory<byte> B(string s) => Encoding.UTF8.GetBytes(s);

    public static string S(ReadOnlyMemory<byte> b) => Encoding.UTF8.GetString(b.Span);

    public static async Task<long> PutAsync(this ConclaveMember m, string key, string value, long lease = 0)
    {
        var r = await m.KeyValue.PutAsync(new PutRequest { Key = B(key), Value = B(value), Lease = lease }, CancellationToken.None);
        Assert.True(r.IsOk, $"put {key} on {m.Name}: {r.Status}");
        return r.Value!.Revision;
    }

    /// <summary>Put, retrying while the cluster has no (stable) leader; the value is idempotent.</summary>
    public static async Task<long> PutRetryAsync(this ConclaveMember m, string key, string value)
    {
        for (var attempt = 0; ; attempt++)
        {
            var r = await m.KeyValue.PutAsync(new PutRequest { Key = B(key), Value = B(value) }, CancellationToken.None);
            if (r.IsOk)
            {
                return r.Value!.Revision;
            }
            if (attempt > 50 || r.Status is not (ServerStatus.NoLeader or ServerStatus.LeaderChanged or ServerStatus.Timeout))
            {
                Assert.Fail($"put {key} on {m.Name}: {r.Status}");
            }
            await m.WaitForLeaderAsync(0, CancellationToken.None);
        }
    }

    public static async Task<string?> GetAsync(this ConclaveMember m, string key, bool serializable = false)
    {
        var r = await m.KeyValue.RangeAsync(RangeRequest.Single(B(key)), serializable, CancellationToken.None);
        Assert.True(r.IsOk, $"get {key} on {m.Name}: {r.Status}");
        return r.Value!.Kvs.Count == 0 ? null : S(r.Value.Kvs[0].Value);
    }

    /// <summary>Polls a condition that is updated by other threads until it holds or the deadline passes (the message says what was expected).</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string expected, Func<string>? details = null)
    {
        var deadline = DateTime.UtcNow + TestCluster.Deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected {expected} within {TestCluster.Deadline.TotalSeconds} s\n{details?.Invoke()}");
            }
            await Task.Delay(5);
        }
    }
}
