namespace Conclave.Raft;

/// <summary>Why a storage read could not be served.</summary>
public enum StorageError
{
    /// <summary>The index lies at or before the snapshot: the entries were compacted away.</summary>
    Compacted,

    /// <summary>The index lies after the last entry.</summary>
    Unavailable,

    /// <summary>A snapshot older than the one the storage already holds.</summary>
    SnapshotOutOfDate,
}

/// <summary>
/// How a storage reports an index it cannot serve. The core catches it (a compacted entry makes
/// the leader send a snapshot); anything else a storage throws is an I/O failure and propagates.
/// </summary>
public sealed class RaftStorageException(StorageError error, string message) : Exception(message)
{
    public StorageError Error { get; } = error;
}

/// <summary>
/// The read side of the durable log the core uses. The driver owns all writes (it persists each
/// Ready and then tells the core with <see cref="RawNode.Advance"/>). Indexes at or before the
/// snapshot index are compacted, except that <see cref="Term"/> answers for the snapshot index itself.
/// </summary>
public interface IRaftStorage
{
    /// <summary>The persisted hard state and the membership of the last snapshot (or of the bootstrap).</summary>
    (HardState HardState, ConfState ConfState) InitialState();

    /// <summary>
    /// Entries [lo, hi), cut to about maxSize bytes of data but at least one entry.
    /// Throws <see cref="RaftStorageException"/> (Compacted) when lo is at or before the snapshot index,
    /// (Unavailable) when hi is past LastIndex()+1.
    /// </summary>
    IReadOnlyList<Entry> Entries(ulong lo, ulong hi, ulong maxSize);

    /// <summary>The term of the entry at index; valid for [FirstIndex()-1, LastIndex()], else throws <see cref="RaftStorageException"/>.</summary>
    ulong Term(ulong index);

    /// <summary>The first index that may be read with <see cref="Entries"/>: snapshot index + 1.</summary>
    ulong FirstIndex();

    /// <summary>The last index in the log (the snapshot index when the log is empty).</summary>
    ulong LastIndex();

    /// <summary>The most recent snapshot; <see cref="Conclave.Raft.Snapshot.Empty"/> when there is none.</summary>
    Snapshot Snapshot();
}
