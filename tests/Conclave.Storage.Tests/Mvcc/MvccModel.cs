using System.Text;
using Conclave.Storage.Mvcc;

namespace Conclave.Storage.Tests.Mvcc;

/// <summary>A key's state in the model: what etcd's KeyValue says about it.</summary>
internal sealed record ModelKv(string Key, long Create, long Mod, long Version, string Value, long Lease);

internal sealed record ModelEvent(EventType Type, string Key, long Revision, ModelKv? Kv, ModelKv? Prev);

/// <summary>
/// The naive model: the full key→kv map of every revision (index = revision), the events of each
/// revision, and the compaction revision. Keys and values are Latin-1 strings so that ordinal string
/// order is byte order.
/// </summary>
internal sealed class MvccModel
{
    public List<SortedDictionary<string, ModelKv>> Maps { get; } = [new(StringComparer.Ordinal), new(StringComparer.Ordinal)];

    public List<List<ModelEvent>> Events { get; } = [[], []];

    public long Compact { get; set; } = -1;

    public long Current => Maps.Count - 1;

    public SortedDictionary<string, ModelKv> Latest => Maps[^1];

    public static string S(ReadOnlySpan<byte> b) => Encoding.Latin1.GetString(b);

    public static byte[] B(string s) => Encoding.Latin1.GetBytes(s);

    public static bool InRange(string key, string end, string k) => KeyRange.Contains(B(key), B(end), B(k));

    /// <summary>Applies a list of writes as one revision (no revision when nothing changes).</summary>
    public void Apply(IEnumerable<(string Key, string? Value, string End, long Lease)> writes)
    {
        var next = new SortedDictionary<string, ModelKv>(Latest, StringComparer.Ordinal);
        var rev = Current + 1;
        var events = new List<ModelEvent>();
        foreach (var (key, value, end, lease) in writes)
        {
            if (value is not null)
            {
                next.TryGetValue(key, out var prev);
                var kv = new ModelKv(key, prev?.Create ?? rev, rev, (prev?.Version ?? 0) + 1, value, lease);
                next[key] = kv;
                events.Add(new ModelEvent(EventType.Put, key, rev, kv, prev));
            }
            else
            {
                foreach (var k in next.Keys.Where(k => InRange(key, end, k)).ToList())
                {
                    events.Add(new ModelEvent(EventType.Delete, k, rev, null, next[k]));
                    next.Remove(k);
                }
            }
        }
        if (events.Count > 0)
        {
            Maps.Add(next);
            Events.Add(events);
        }
    }
}
