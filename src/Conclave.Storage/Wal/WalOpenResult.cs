using Conclave.Raft;

namespace Conclave.Storage.Wal;

/// <summary>The log position a snapshot covers: every entry up to and including <see cref="Index"/>. Index 0 means no snapshot.</summary>
public readonly record struct WalSnapshotMarker(ulong Index, ulong Term);

/// <summary>Where recovery cut off a torn last record: the bytes from <see cref="Offset"/> on were never acknowledged and are now zeroed.</summary>
public sealed record WalTornTail(string FilePath, long Offset, long Length);

/// <summary>
/// What <see cref="WriteAheadLog.Open"/> recovered. <see cref="Entries"/> are the entries after
/// <see cref="Snapshot"/> in index order, contiguous, with overwritten suffixes already removed.
/// The caller owns <see cref="Log"/> and must dispose it.
/// </summary>
public sealed record WalOpenResult(
    WriteAheadLog Log,
    HardState HardState,
    WalSnapshotMarker Snapshot,
    IReadOnlyList<Entry> Entries,
    WalTornTail? TornTail)
{
    /// <summary>Index of the last entry, or the snapshot index when there are no entries after it.</summary>
    public ulong LastIndex => Entries.Count > 0 ? Entries[^1].Index : Snapshot.Index;
}
