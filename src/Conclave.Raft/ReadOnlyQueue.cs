namespace Conclave.Raft;

/// <summary>
/// A leader's pending ReadIndex requests, in arrival order. Each records the commit index at the
/// time it arrived and which voters acknowledged a heartbeat carrying its context. When a quorum
/// acknowledged a request's context, that request and every one before it are confirmed (a later
/// heartbeat round proves leadership for earlier requests too).
/// </summary>
internal sealed class ReadOnlyQueue
{
    private readonly Dictionary<string, PendingRead> _pending = [];
    private readonly List<string> _order = [];

    internal sealed record PendingRead(Message Request, ulong Index, Dictionary<ulong, bool> Acks);

    private static string Key(ReadOnlyMemory<byte> ctx) => Convert.ToBase64String(ctx.Span);

    public void Add(ulong index, Message request)
    {
        var key = Key(request.Context);
        if (_pending.ContainsKey(key))
        {
            return;
        }

        _pending[key] = new PendingRead(request, index, []);
        _order.Add(key);
    }

    /// <summary>Records id's acknowledgment; returns the acks so far, or null for an unknown context.</summary>
    public IReadOnlyDictionary<ulong, bool>? RecvAck(ulong id, ReadOnlyMemory<byte> ctx)
    {
        if (!_pending.TryGetValue(Key(ctx), out var rs))
        {
            return null;
        }

        rs.Acks[id] = true;
        return rs.Acks;
    }

    /// <summary>Removes and returns the request with ctx and all requests queued before it.</summary>
    public List<PendingRead> Advance(ReadOnlyMemory<byte> ctx)
    {
        var key = Key(ctx);
        var at = _order.IndexOf(key);
        if (at < 0)
        {
            return [];
        }

        var result = new List<PendingRead>(at + 1);
        for (var i = 0; i <= at; i++)
        {
            result.Add(_pending[_order[i]]);
            _pending.Remove(_order[i]);
        }

        _order.RemoveRange(0, at + 1);
        return result;
    }

    public ReadOnlyMemory<byte> LastPendingContext() => _order.Count == 0 ? ReadOnlyMemory<byte>.Empty : _pending[_order[^1]].Request.Context;

    public int Count => _order.Count;
}
