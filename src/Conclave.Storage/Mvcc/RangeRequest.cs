namespace Conclave.Storage.Mvcc;

public enum SortOrder
{
    None = 0,
    Ascend = 1,
    Descend = 2,
}

public enum SortTarget
{
    Key = 0,
    Version = 1,
    Create = 2,
    Mod = 3,
    Value = 4,
}

/// <summary>
/// etcd's RangeRequest, without protobuf. <see cref="RangeEnd"/> follows <see cref="KeyRange"/>.
/// <see cref="Revision"/> ≤ 0 reads the current revision. <see cref="Limit"/> 0 is unlimited.
/// The Min/Max revision filters are 0 for "not set".
/// </summary>
public sealed record RangeRequest
{
    public ReadOnlyMemory<byte> Key { get; init; }

    public ReadOnlyMemory<byte> RangeEnd { get; init; }

    public long Limit { get; init; }

    public long Revision { get; init; }

    public SortOrder SortOrder { get; init; }

    public SortTarget SortTarget { get; init; }

    public bool KeysOnly { get; init; }

    public bool CountOnly { get; init; }

    public long MinModRevision { get; init; }

    public long MaxModRevision { get; init; }

    public long MinCreateRevision { get; init; }

    public long MaxCreateRevision { get; init; }

    public static RangeRequest Single(ReadOnlyMemory<byte> key, long revision = 0) => new() { Key = key, Revision = revision };

    public static RangeRequest Prefix(ReadOnlyMemory<byte> prefix, long revision = 0) =>
        new() { Key = prefix, RangeEnd = KeyRange.PrefixEnd(prefix.Span), Revision = revision };
}

/// <summary>
/// Result of a range. On a non-Ok <see cref="Status"/> the other fields are empty.
/// <see cref="Revision"/> is the store's current revision when the read ran (etcd's header
/// revision), not the revision that was read. <see cref="Count"/> is the number of keys in the
/// range at the read revision, before the revision filters and the limit.
/// </summary>
public sealed record RangeResult(MvccStatus Status, IReadOnlyList<KeyValue> Kvs, bool More, long Count, long Revision)
{
    internal static RangeResult Failed(MvccStatus status, long revision) => new(status, [], false, 0, revision);
}

/// <summary>Result of a put: the revision it will commit at and the key's previous kv (null when absent).</summary>
public sealed record PutResult(MvccStatus Status, long Revision, KeyValue? PrevKv);

/// <summary>Result of a delete: how many keys it deleted and their kvs before deletion (in key order).</summary>
public sealed record DeleteRangeResult(MvccStatus Status, long Revision, long Deleted, IReadOnlyList<KeyValue> PrevKvs);

/// <summary>Result of <see cref="MvccStore.EventsSince"/>: events in revision order and where to continue.</summary>
public sealed record EventsResult(MvccStatus Status, IReadOnlyList<Event> Events, long NextRevision, long CompactRevision);

/// <summary>Result of <see cref="MvccStore.HashKV"/>; <see cref="Revision"/> is the store's current revision.</summary>
public sealed record HashKVResult(MvccStatus Status, uint Hash, long Revision, long CompactRevision, long HashRevision);
