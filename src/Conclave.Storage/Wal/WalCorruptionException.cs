namespace Conclave.Storage.Wal;

/// <summary>
/// The WAL found damage it must not repair by itself: a bad record followed by valid ones, a bad
/// segment header, a missing segment, an index gap. Opening stops so that acknowledged entries
/// are never dropped silently; an operator restores the member from its peers or a backup.
/// </summary>
public sealed class WalCorruptionException : IOException
{
    public WalCorruptionException(string filePath, long offset, string reason)
        : base($"wal: corrupt log in '{filePath}' at byte offset {offset}: {reason}")
    {
        FilePath = filePath;
        Offset = offset;
        Reason = reason;
    }

    public string FilePath { get; }

    public long Offset { get; }

    public string Reason { get; }
}
