namespace Conclave.Raft;

/// <summary>The log position a snapshot covers (every entry up to and including Index) and the membership at that point.</summary>
public sealed record SnapshotMetadata(ulong Index, ulong Term, ConfState ConfState)
{
    public static SnapshotMetadata Empty { get; } = new(0, 0, ConfState.Empty);
}

/// <summary>
/// A point-in-time image of the state machine. <see cref="Data"/> is opaque to the core: the
/// state machine produced it and the state machine restores it. An empty snapshot has Index 0.
/// </summary>
public sealed record Snapshot(SnapshotMetadata Metadata, ReadOnlyMemory<byte> Data)
{
    public static Snapshot Empty { get; } = new(SnapshotMetadata.Empty, ReadOnlyMemory<byte>.Empty);

    public bool IsEmpty => Metadata.Index == 0;
}
