using System.Globalization;
using Conclave.Robustness.Network;
using Conclave.Testing.Etcd;

namespace Conclave.Robustness.Cluster;

/// <summary>
/// N server processes on 127.0.0.1 started with etcd's flags, each with its own data directory
/// under one temporary folder and a <see cref="PeerProxy"/> in front of its peer port: the
/// advertised peer URL (and the one in --initial-cluster) is the proxy's, the listen URL is the
/// real port. Subclasses say which program runs and which extra flags it takes.
/// </summary>
public abstract class ProcessCluster : IClusterUnderTest
{
    private readonly MemberProcess[] _members;
    private readonly PeerProxy[] _proxies;
    private readonly ulong[] _memberIds;
    private readonly Dictionary<string, int> _wireIds = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _wireIdsLock = new();
    private readonly DirectoryInfo _root;
    private readonly Uri[] _clientUrls;

    /// <param name="settings">Flags every member gets on top of the common ones (e.g. --snapshot-count, --quota-backend-bytes) and its environment.</param>
    protected ProcessCluster(string target, int count, string fileName, Func<int, IReadOnlyList<string>> extraArguments, ClusterSettings? settings = null)
    {
        settings ??= new ClusterSettings();
        Target = target;
        Count = count;
        Network = new NetworkConditions(count);
        _root = Directory.CreateTempSubdirectory($"conclave-robustness-{target}-");
        // client ports, then peer ports, then the HTTP (metrics) ports: every member its own, so no
        // member falls back to a default port another already holds.
        var clientPorts = FreePort.Take(count * 3);
        _clientUrls = new Uri[count];
        _memberIds = new ulong[count];
        _proxies = new PeerProxy[count];
        _members = new MemberProcess[count];
        try
        {
            // Last line of defence when the host exits without disposing (Ctrl+C, a crashed test host): no orphan servers.
            AppDomain.CurrentDomain.ProcessExit += KillOnExit;
            for (var i = 0; i < count; i++)
            {
                _proxies[i] = new PeerProxy(i, 0, clientPorts[count + i], Network, ResolveWireId);
            }

            var initialCluster = string.Join(',', Enumerable.Range(0, count).Select(i => $"m{i}=http://127.0.0.1:{_proxies[i].Port}"));
            for (var i = 0; i < count; i++)
            {
                var clientUrl = $"http://127.0.0.1:{clientPorts[i]}";
                _clientUrls[i] = new Uri(clientUrl);
                var dataDirectory = Path.Combine(_root.FullName, $"m{i}");
                List<string> arguments =
                [
                    .. extraArguments(i),
                    "--name", $"m{i}",
                    "--data-dir", dataDirectory,
                    "--listen-client-urls", clientUrl,
                    "--advertise-client-urls", clientUrl,
                    "--listen-peer-urls", $"http://127.0.0.1:{clientPorts[count + i]}",
                    "--listen-metrics-urls", $"http://127.0.0.1:{clientPorts[(2 * count) + i]}",
                    "--initial-advertise-peer-urls", $"http://127.0.0.1:{_proxies[i].Port}",
                    "--initial-cluster", initialCluster,
                    "--initial-cluster-state", "new",
                    "--initial-cluster-token", $"robustness-{Path.GetFileName(_root.FullName)}",
                    "--heartbeat-interval", "100",
                    "--election-timeout", "1000",
                    .. settings.Flags,
                ];
                _members[i] = new MemberProcess(fileName, arguments) { Environment = settings.Environment };
            }
        }
        catch
        {
            DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    public string Target { get; }

    public int Count { get; }

    public IReadOnlyList<Uri> ClientUrls => _clientUrls;

    public NetworkConditions Network { get; }

    /// <summary>The temporary folder holding every data directory (deleted on dispose).</summary>
    public string RootDirectory => _root.FullName;

    /// <summary>Peer connections the proxies refused or closed because of the network conditions.</summary>
    public long PeerConnectionsCut => _proxies.Sum(p => p.Cut);

    public bool IsUp(int member) => _members[member].IsRunning && !_members[member].IsPaused;

    public ulong MemberId(int member) => _memberIds[member];

    public string RecentLog(int member) => _members[member].RecentLog;

    /// <summary>
    /// Starts every member and waits until each answers a linearizable read (so the cluster has a
    /// leader), at most <paramref name="timeout"/>. Throws with the members' logs otherwise.
    /// </summary>
    public async Task StartAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        foreach (var member in _members)
        {
            member.Start();
        }

        var ready = await Task.WhenAll(Enumerable.Range(0, Count).Select(i => WaitReadyAsync(i, timeout, cancellationToken)));
        lock (_wireIdsLock)
        {
            for (var i = 0; i < Count; i++)
            {
                _memberIds[i] = ready[i];
                _wireIds[ready[i].ToString("x", CultureInfo.InvariantCulture)] = i;
            }
        }
    }

    /// <summary>
    /// Waits (<see cref="ReadinessProbe"/>) until the member answers a linearizable Range, at most
    /// <paramref name="timeout"/>; returns its member id. Throws with the member's log when it
    /// exits first or the timeout passes.
    /// </summary>
    public async Task<ulong> WaitReadyAsync(int member, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var ready = await ReadinessProbe.WaitAsync(_clientUrls[member], _members[member].Exited, timeout, cancellationToken: cancellationToken);
        return ready.Outcome switch
        {
            Readiness.Ready => ready.MemberId,
            Readiness.Exited => throw new InvalidOperationException(
                $"robustness: {Target} member {member} exited before it was ready\n--- log ---\n{RecentLog(member)}"),
            _ => throw new InvalidOperationException(
                $"robustness: {Target} member {member} did not answer a linearizable read within {timeout.TotalSeconds:0} s " +
                $"({ready.LastError?.StatusCode}: {ready.LastError?.Status.Detail})\n--- log ---\n{RecentLog(member)}", ready.LastError),
        };
    }

    public Task KillAsync(int member) => _members[member].KillAsync();

    public Task PauseAsync(int member)
    {
        _members[member].Pause();
        return Task.CompletedTask;
    }

    public Task ResumeAsync(int member)
    {
        _members[member].Resume();
        return Task.CompletedTask;
    }

    public Task RestartAsync(int member)
    {
        _members[member].Start();
        return Task.CompletedTask;
    }

    public Task RestartAsync(int member, IReadOnlyDictionary<string, string?> environment)
    {
        _members[member].Start(environment);
        return Task.CompletedTask;
    }

    public Task Exited(int member) => _members[member].Exited;

    public Task<string> NextLogLineAsync(int member, Func<string, bool> match, CancellationToken cancellationToken) =>
        _members[member].NextLineAsync(match, cancellationToken);

    private int? ResolveWireId(string wireId)
    {
        lock (_wireIdsLock)
        {
            return _wireIds.TryGetValue(wireId, out var member) ? member : null;
        }
    }

    private void KillOnExit(object? sender, EventArgs e)
    {
        foreach (var member in _members)
        {
            member?.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        foreach (var member in _members)
        {
            member?.Dispose();
        }

        foreach (var proxy in _proxies)
        {
            if (proxy is not null)
            {
                await proxy.DisposeAsync();
            }
        }

        try
        {
            _root.Delete(recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>What every member of a <see cref="ProcessCluster"/> gets besides the common flags.</summary>
public sealed record ClusterSettings
{
    /// <summary>Extra flags, the same for every member and target (etcd's names).</summary>
    public IReadOnlyList<string> Flags { get; init; } = [];

    /// <summary>Environment variables of every start (a restart may add more for itself).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();
}

/// <summary>A real etcd cluster (Debian's `etcd` binary on PATH).</summary>
public sealed class EtcdCluster(int count, ClusterSettings? settings = null) : ProcessCluster(
    "etcd",
    count,
    EtcdTools.EtcdPath ?? throw new InvalidOperationException("robustness: etcd is not on PATH (Debian etcd-server)"),
    _ => ["--logger", "zap", "--log-outputs", "stderr"],
    settings)
{
}

/// <summary>
/// Conclave: `dotnet &lt;conclave.dll&gt; serve` with etcd's flags. The dll comes from
/// <see cref="DllPath"/>: CONCLAVE_DLL, else src/Conclave/bin/Release/net10.0/conclave.dll under the repository root.
/// </summary>
public sealed class ConclaveCluster(int count, string dllPath, ClusterSettings? settings = null) : ProcessCluster(
    "conclave",
    count,
    "dotnet",
    _ => [dllPath, "serve"],
    settings)
{
    public static string DllPath =>
        Environment.GetEnvironmentVariable("CONCLAVE_DLL") is { Length: > 0 } path
            ? path
            : Path.Combine(RepositoryRoot(), "src", "Conclave", "bin", "Release", "net10.0", "conclave.dll");

    /// <summary>The nearest directory above the working directory holding Conclave.slnx (else the working directory).</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(Environment.CurrentDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Conclave.slnx")))
            {
                return directory.FullName;
            }
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Conclave.slnx")))
            {
                return directory.FullName;
            }
        }

        return Environment.CurrentDirectory;
    }
}
