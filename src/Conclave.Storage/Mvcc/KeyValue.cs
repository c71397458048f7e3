namespace Conclave.Storage.Mvcc;

/// <summary>
/// One revision of a key, as etcd's mvccpb.KeyValue. Immutable: the store hands out the very
/// objects it keeps in its history, so readers never copy and never see them change.
/// A deletion is stored as a tombstone: a KeyValue with only <see cref="Key"/> and
/// <see cref="ModRevision"/> set (CreateRevision, Version and Lease are 0, Value is empty) — this
/// is exactly the kv an etcd DELETE event carries.
/// </summary>
public sealed class KeyValue
{
    private readonly byte[] _key;
    private readonly byte[] _value;

    internal KeyValue(byte[] key, byte[] value, long createRevision, long modRevision, int subRevision, long version, long lease)
    {
        _key = key;
        _value = value;
        CreateRevision = createRevision;
        ModRevision = modRevision;
        SubRevision = subRevision;
        Version = version;
        Lease = lease;
    }

    public ReadOnlyMemory<byte> Key => _key;

    public ReadOnlyMemory<byte> Value => _value;

    /// <summary>Revision of the put that created the key's current generation; 0 for a tombstone.</summary>
    public long CreateRevision { get; }

    /// <summary>Revision of the write (put or delete) that produced this kv.</summary>
    public long ModRevision { get; }

    /// <summary>1 at creation, +1 per put; 0 for a tombstone.</summary>
    public long Version { get; }

    /// <summary>Lease the key is attached to, 0 for none.</summary>
    public long Lease { get; }

    /// <summary>Order of this change among the changes of one revision (etcd's sub revision); not on the wire.</summary>
    internal int SubRevision { get; }

    internal bool IsTombstone => CreateRevision == 0;

    internal byte[] KeyArray => _key;

    internal byte[] ValueArray => _value;

    internal static KeyValue Tombstone(byte[] key, long revision, int subRevision) =>
        new(key, [], 0, revision, subRevision, 0, 0);

    /// <summary>The same kv without its value (keys_only).</summary>
    internal KeyValue WithoutValue() =>
        _value.Length == 0 ? this : new KeyValue(_key, [], CreateRevision, ModRevision, SubRevision, Version, Lease);

    public override string ToString() =>
        $"{{key={Convert.ToHexString(_key)} create={CreateRevision} mod={ModRevision}.{SubRevision} ver={Version} lease={Lease} value={_value.Length}B}}";
}

public enum EventType
{
    Put = 0,
    Delete = 1,
}

/// <summary>
/// One change. For <see cref="EventType.Delete"/>, <see cref="Kv"/> is the tombstone (key and
/// mod revision only). <see cref="PrevKv"/> is the key's previous revision when it was live, else null.
/// </summary>
public sealed record Event(EventType Type, KeyValue Kv, KeyValue? PrevKv);

/// <summary>All events of one revision, in sub-revision order.</summary>
public sealed record EventBatch(long Revision, IReadOnlyList<Event> Events);
