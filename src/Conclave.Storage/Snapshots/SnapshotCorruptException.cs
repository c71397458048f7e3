namespace Conclave.Storage.Snapshots;

/// <summary>A snapshot file or transfer failed its checks: wrong magic, bad checksum, truncated. Nothing was installed.</summary>
public sealed class SnapshotCorruptException(string source, string reason)
    : IOException($"snapshot: {source} is not a valid snapshot: {reason}")
{
    public string Origin { get; } = source;

    public string Reason { get; } = reason;
}
