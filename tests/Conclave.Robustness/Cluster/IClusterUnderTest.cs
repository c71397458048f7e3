namespace Conclave.Robustness.Cluster;

/// <summary>
/// A cluster of real server processes speaking etcd v3 on its client ports, with faults the
/// harness can inject. Members are numbered 0..Count-1. Every member's peer traffic passes
/// through a <see cref="Network.PeerProxy"/>, so <see cref="Network"/> decides which member
/// reaches which. Disposing kills every process and deletes every data directory.
/// </summary>
public interface IClusterUnderTest : IAsyncDisposable
{
    /// <summary>"etcd" or "conclave", for reports.</summary>
    string Target { get; }

    int Count { get; }

    /// <summary>The client URL of each member (http://127.0.0.1:port, gRPC over h2c).</summary>
    IReadOnlyList<Uri> ClientUrls { get; }

    Network.NetworkConditions Network { get; }

    /// <summary>True while the member's process runs and is not stopped.</summary>
    bool IsUp(int member);

    /// <summary>Kill -9 (the process gets no chance to flush anything).</summary>
    Task KillAsync(int member);

    /// <summary>SIGSTOP: the process keeps its sockets but does nothing until <see cref="ResumeAsync"/>.</summary>
    Task PauseAsync(int member);

    /// <summary>SIGCONT after <see cref="PauseAsync"/>.</summary>
    Task ResumeAsync(int member);

    /// <summary>Starts a killed member again over the same data directory and ports. No-op when it runs.</summary>
    Task RestartAsync(int member);

    /// <summary>
    /// Like <see cref="RestartAsync(int)"/>, with <paramref name="environment"/> set for this start
    /// only (e.g. CONCLAVE_FAILPOINTS; a null value removes a variable the cluster sets).
    /// </summary>
    Task RestartAsync(int member, IReadOnlyDictionary<string, string?> environment);

    /// <summary>Completes when the member's current process exits.</summary>
    Task Exited(int member);

    /// <summary>The next output line of <paramref name="member"/> that <paramref name="match"/> accepts (register before causing it).</summary>
    Task<string> NextLogLineAsync(int member, Func<string, bool> match, CancellationToken cancellationToken);

    /// <summary>The member's server id as the etcd response header reports it (learned at start).</summary>
    ulong MemberId(int member);

    /// <summary>The last log lines of a member, for reports.</summary>
    string RecentLog(int member);
}
