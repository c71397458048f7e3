using Google.Protobuf;
using Wire = Conclave.Api.Etcd.Protocol;

namespace Conclave.Client;

/// <summary>
/// One comparison of a transaction guard, built with operators:
/// <c>Compare.Version("k") == 0</c>, <c>Compare.CreateRevision("k") == rev</c>,
/// <c>Compare.ModRevision("k") &lt; 10</c>, <c>Compare.Value("k") == "v"</c>.
/// A missing key has version, create and mod revision 0.
/// </summary>
public sealed class Compare
{
    private Compare(Wire.Compare wire) => Proto = wire;

    internal Wire.Compare Proto { get; }

    public static CompareTarget Version(string key) => new(key, Wire.Compare.Types.CompareTarget.Version);

    public static CompareTarget CreateRevision(string key) => new(key, Wire.Compare.Types.CompareTarget.Create);

    public static CompareTarget ModRevision(string key) => new(key, Wire.Compare.Types.CompareTarget.Mod);

    public static CompareTarget Lease(string key) => new(key, Wire.Compare.Types.CompareTarget.Lease);

    public static ValueCompareTarget Value(string key) => new(key);

    internal static Compare Of(string key, Wire.Compare.Types.CompareTarget target, Wire.Compare.Types.CompareResult result, long number)
    {
        var wire = new Wire.Compare { Key = Keys.Bytes(key), Target = target, Result = result };
        switch (target)
        {
            case Wire.Compare.Types.CompareTarget.Version:
                wire.Version = number;
                break;
            case Wire.Compare.Types.CompareTarget.Create:
                wire.CreateRevision = number;
                break;
            case Wire.Compare.Types.CompareTarget.Mod:
                wire.ModRevision = number;
                break;
            default:
                wire.Lease = number;
                break;
        }
        return new Compare(wire);
    }

    internal static Compare OfValue(string key, Wire.Compare.Types.CompareResult result, string value) =>
        new(new Wire.Compare
        {
            Key = Keys.Bytes(key),
            Target = Wire.Compare.Types.CompareTarget.Value,
            Result = result,
            Value = ByteString.CopyFromUtf8(value),
        });
}

/// <summary>A numeric field of a key, to be compared with a number.</summary>
#pragma warning disable CS0660, CS0661 // the operators build comparisons; they are not equality
public sealed class CompareTarget
#pragma warning restore CS0660, CS0661
{
    private readonly string _key;
    private readonly Wire.Compare.Types.CompareTarget _target;

    internal CompareTarget(string key, Wire.Compare.Types.CompareTarget target)
    {
        _key = key;
        _target = target;
    }

    public static Compare operator ==(CompareTarget t, long n) => Compare.Of(t._key, t._target, Wire.Compare.Types.CompareResult.Equal, n);

    public static Compare operator !=(CompareTarget t, long n) => Compare.Of(t._key, t._target, Wire.Compare.Types.CompareResult.NotEqual, n);

    public static Compare operator <(CompareTarget t, long n) => Compare.Of(t._key, t._target, Wire.Compare.Types.CompareResult.Less, n);

    public static Compare operator >(CompareTarget t, long n) => Compare.Of(t._key, t._target, Wire.Compare.Types.CompareResult.Greater, n);
}

/// <summary>The value of a key, to be compared with text.</summary>
#pragma warning disable CS0660, CS0661 // the operators build comparisons; they are not equality
public sealed class ValueCompareTarget
#pragma warning restore CS0660, CS0661
{
    private readonly string _key;

    internal ValueCompareTarget(string key) => _key = key;

    public static Compare operator ==(ValueCompareTarget t, string v) => Compare.OfValue(t._key, Wire.Compare.Types.CompareResult.Equal, v);

    public static Compare operator !=(ValueCompareTarget t, string v) => Compare.OfValue(t._key, Wire.Compare.Types.CompareResult.NotEqual, v);

    public static Compare operator <(ValueCompareTarget t, string v) => Compare.OfValue(t._key, Wire.Compare.Types.CompareResult.Less, v);

    public static Compare operator >(ValueCompareTarget t, string v) => Compare.OfValue(t._key, Wire.Compare.Types.CompareResult.Greater, v);
}

/// <summary>One operation of a transaction branch.</summary>
public sealed class Op
{
    private Op(Wire.RequestOp wire) => Proto = wire;

    internal Wire.RequestOp Proto { get; }

    public static Op Put(string key, string value, long leaseId = 0, bool prevKv = false) =>
        Put(key, System.Text.Encoding.UTF8.GetBytes(value), leaseId, prevKv);

    public static Op Put(string key, byte[] value, long leaseId = 0, bool prevKv = false) =>
        new(new Wire.RequestOp { RequestPut = KvRequests.Put(key, value, leaseId, prevKv) });

    public static Op Get(string key, GetOptions? options = null) =>
        new(new Wire.RequestOp { RequestRange = KvRequests.Range(key, ByteString.Empty, options) });

    public static Op GetPrefix(string prefix, GetOptions? options = null) =>
        new(new Wire.RequestOp { RequestRange = KvRequests.Range(prefix, Keys.PrefixEnd(prefix), options) });

    public static Op Delete(string key, bool prevKv = false) =>
        new(new Wire.RequestOp { RequestDeleteRange = new Wire.DeleteRangeRequest { Key = Keys.Bytes(key), PrevKv = prevKv } });

    public static Op DeletePrefix(string prefix) =>
        new(new Wire.RequestOp { RequestDeleteRange = new Wire.DeleteRangeRequest { Key = Keys.Bytes(prefix), RangeEnd = Keys.PrefixEnd(prefix) } });
}

/// <summary>What a transaction did: which branch ran, at which revision, and each op's result in order.</summary>
public sealed record TxnResult(bool Succeeded, long Revision, IReadOnlyList<OpResult> Results);

/// <summary>
/// A transaction: <c>client.Txn().If(...).Then(...).Else(...).CommitAsync()</c>. Atomic: the
/// guards and the chosen branch see and write one revision. A commit is never retried after it
/// was sent (see docs/client.md); a <see cref="ClusterUnavailableException"/> then means
/// "unknown outcome".
/// </summary>
public sealed class TxnBuilder
{
    private readonly ConclaveClient _client;
    private readonly Wire.TxnRequest _request = new();

    internal TxnBuilder(ConclaveClient client) => _client = client;

    public TxnBuilder If(params Compare[] compares)
    {
        _request.Compare.AddRange(compares.Select(c => c.Proto));
        return this;
    }

    public TxnBuilder Then(params Op[] ops)
    {
        _request.Success.AddRange(ops.Select(o => o.Proto));
        return this;
    }

    public TxnBuilder Else(params Op[] ops)
    {
        _request.Failure.AddRange(ops.Select(o => o.Proto));
        return this;
    }

    public Task<TxnResult> CommitAsync(CancellationToken cancellationToken = default) =>
        _client.CommitAsync(_request, cancellationToken);
}
