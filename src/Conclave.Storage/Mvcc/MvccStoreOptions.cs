namespace Conclave.Storage.Mvcc;

public sealed record MvccStoreOptions
{
    /// <summary>
    /// Byte quota (etcd's quota-backend-bytes, default 2 GiB). Usage is counted per retained
    /// revision as key length + value length + <see cref="MvccStore.RevisionOverheadBytes"/>; a put
    /// that would take usage above the quota fails with <see cref="MvccStatus.QuotaExceeded"/>.
    /// Deletes and compactions are never refused.
    /// </summary>
    public long QuotaBytes { get; init; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Keys pruned per physical compaction step (see <see cref="MvccStore.StepCompaction"/>).</summary>
    public int CompactionStepKeys { get; init; } = 1000;

    /// <summary>Keys a reader visits per hold of the read lock before letting a waiting writer in.</summary>
    public int ReadChunkKeys { get; init; } = 1024;

    /// <summary>Most operations in one txn, counting nested ones (etcd --max-txn-ops, default 128).</summary>
    public int MaxTxnOps { get; init; } = 128;
}
