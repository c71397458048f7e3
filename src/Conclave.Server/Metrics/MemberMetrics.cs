using System.Text;

namespace Conclave.Server.Metrics;

/// <summary>
/// The latency histograms one <see cref="ConclaveMember"/> records, written in the Prometheus text
/// format by the front ends' metrics endpoints. Names follow etcd's where etcd has the metric.
/// </summary>
public sealed class MemberMetrics
{
    public const string WalFsyncName = "etcd_disk_wal_fsync_duration_seconds";
    public const string ProposalName = "conclave_server_proposal_duration_seconds";

    /// <summary>etcd's buckets for the WAL fsync: 1 ms × 2^k, k = 0..13 (up to 8.192 s).</summary>
    private static readonly double[] WalFsyncBounds = Histogram.ExponentialBounds(0.001, 2, 14);

    /// <summary>0.1 ms × 2^k, k = 0..17 (up to 13.1 s): fine enough below a millisecond to split a loopback write.</summary>
    private static readonly double[] ProposalBounds = Histogram.ExponentialBounds(0.0001, 2, 18);

    /// <summary>Every data sync of a WAL batch (one per group commit; a segment rollover's sync counts as the batch's).</summary>
    public Histogram WalFsync { get; } = new(WalFsyncBounds);

    /// <summary>From a proposal entering <c>ProposeAsync</c> to the member loop completing its waiter after applying it here.</summary>
    public Histogram ProposalApplied { get; } = new(ProposalBounds);

    /// <summary>From a proposal entering <c>ProposeAsync</c> to <c>ProposeAsync</c> resuming with its result (adds the thread-pool hand-back).</summary>
    public Histogram ProposalAnswered { get; } = new(ProposalBounds);

    /// <summary>Appends every histogram, each with its HELP and TYPE lines.</summary>
    public void WriteTo(StringBuilder text)
    {
        Histogram.WriteHeader(text, WalFsyncName, "The latency distributions of fsync called by WAL.");
        WalFsync.WriteTo(text, WalFsyncName, "");
        Histogram.WriteHeader(text, ProposalName,
            "Time from a proposal entering the member to its waiter being completed after apply (stage=\"applied\") and to the caller resuming with the result (stage=\"answered\"); proposals that time out or fail before apply are not counted.");
        ProposalApplied.WriteTo(text, ProposalName, "stage=\"applied\"");
        ProposalAnswered.WriteTo(text, ProposalName, "stage=\"answered\"");
    }
}
