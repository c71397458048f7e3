namespace Conclave.Storage.Wal;

public sealed class WalOptions
{
    /// <summary>Bytes preallocated per segment file. A batch larger than this still goes into one segment, which then grows past it.</summary>
    public long SegmentSize { get; init; } = 64L * 1024 * 1024;

    /// <summary>Largest encoded batch (one write, one record) accepted, in bytes. A save that exceeds it fails with <see cref="ArgumentException"/>.</summary>
    public int MaxRecordSize { get; init; } = 256 * 1024 * 1024;

    /// <summary>
    /// Called on the WAL's writer thread after every data sync of a batch (one per group commit; a
    /// segment rollover's sync replaces the batch's) with how long the sync took, measured with
    /// <see cref="System.Diagnostics.Stopwatch"/>. It must be cheap and must not throw: it delays
    /// every write, and an exception fails the log. Null: nothing is measured.
    /// </summary>
    public Action<TimeSpan>? OnFsync { get; init; }

    internal IWalFailpoints? Failpoints { get; init; }

    internal void Validate()
    {
        if (SegmentSize < 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(SegmentSize), SegmentSize, "wal: segment size must be at least 4096 bytes");
        }

        if (MaxRecordSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRecordSize), MaxRecordSize, "wal: max record size must be at least 1024 bytes");
        }
    }
}
