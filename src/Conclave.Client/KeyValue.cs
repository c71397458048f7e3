using System.Text;
using Google.Protobuf;

namespace Conclave.Client;

/// <summary>A key and its value at some revision. Keys are UTF-8 text; values are bytes.</summary>
public sealed record KeyValue(
    string Key, byte[] Value, long CreateRevision, long ModRevision, long Version, long Lease)
{
    /// <summary>The value decoded as UTF-8.</summary>
    public string ValueText => Encoding.UTF8.GetString(Value);

    internal static KeyValue From(Conclave.Api.Etcd.Protocol.MvccPb.KeyValue kv) =>
        new(kv.Key.ToStringUtf8(), kv.Value.ToByteArray(), kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease);
}

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

/// <summary>Options of a read. Revision 0 reads the current revision; Limit 0 means no limit.</summary>
public sealed record GetOptions
{
    public long Revision { get; init; }

    public long Limit { get; init; }

    public SortOrder SortOrder { get; init; }

    public SortTarget SortTarget { get; init; }

    public bool KeysOnly { get; init; }

    public bool CountOnly { get; init; }

    /// <summary>Serve from the member's local state without a quorum round (may be stale).</summary>
    public bool Serializable { get; init; }

    /// <summary>Only keys whose create revision is at most this (0: no bound).</summary>
    public long MaxCreateRevision { get; init; }

    public static GetOptions Default { get; } = new();
}

/// <summary>What a read returned. <see cref="Revision"/> is the store revision the read saw.</summary>
public sealed record GetResult(long Revision, IReadOnlyList<KeyValue> Kvs, long Count, bool More) : OpResult(Revision);

public sealed record PutResult(long Revision, KeyValue? PrevKv) : OpResult(Revision);

public sealed record DeleteResult(long Revision, long Deleted, IReadOnlyList<KeyValue> PrevKvs) : OpResult(Revision);

/// <summary>The result of one operation; inside a transaction every one has the txn's revision.</summary>
public abstract record OpResult(long Revision);

internal static class Keys
{
    public static ByteString Bytes(string key) => ByteString.CopyFromUtf8(key);

    /// <summary>
    /// The range end that selects every key starting with <paramref name="prefix"/>: the prefix
    /// with its last byte below 0xff incremented (and what follows dropped); "\0" (all keys)
    /// when every byte is 0xff or the prefix is empty.
    /// </summary>
    public static ByteString PrefixEnd(string prefix)
    {
        var bytes = Encoding.UTF8.GetBytes(prefix);
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] < 0xff)
            {
                var end = bytes[..(i + 1)];
                end[i]++;
                return ByteString.CopyFrom(end);
            }
        }
        return ByteString.CopyFrom(0);
    }
}
