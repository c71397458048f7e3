using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;

namespace Conclave.Bench.Workloads;

/// <summary>
/// `txn-put`: each operation is one Txn with no compares whose success branch puts
/// <paramref name="opsPerTxn"/> consecutive keys of the key space (wrapping at its end, so
/// never the same key twice in one txn, which etcd rejects).
/// </summary>
public sealed class TxnPutWorkload : IWorkload
{
    private readonly KeySpace _keys;
    private readonly int _valueSize;
    private readonly int _opsPerTxn;
    private readonly int _seed;
    private readonly ByteString _value;

    public TxnPutWorkload(KeySpace keys, int valueSize, int opsPerTxn, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(opsPerTxn, 1);
        if (opsPerTxn > keys.Size)
        {
            throw new ArgumentException($"--txn-ops {opsPerTxn} needs at least that many keys, --key-space-size is {keys.Size}");
        }
        _keys = keys;
        _valueSize = valueSize;
        _opsPerTxn = opsPerTxn;
        _seed = seed;
        _value = PutWorkload.RandomValue(valueSize, seed);
    }

    public string Name => "txn-put";

    public IReadOnlyList<string> OperationSeries { get; } = ["txn-put"];

    public IReadOnlyDictionary<string, string> Parameters
    {
        get
        {
            var parameters = new SortedDictionary<string, string>(PutWorkload.KeyParameters(_keys, _valueSize), StringComparer.Ordinal)
            {
                ["txn-ops"] = _opsPerTxn.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            return parameters;
        }
    }

    public Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken) => Task.CompletedTask;

    public BenchClient CreateClient(int index, BenchConnections connections) =>
        new Client(this, new KV.KVClient(connections.ForClient(index)), new Random(_seed + index));

    public Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SeriesRecorder>>([]);

    private sealed class Client(TxnPutWorkload workload, KV.KVClient kv, Random random) : BenchClient
    {
        public override async Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken)
        {
            var keys = workload._keys;
            var first = keys.IndexFor(operation, random);
            var txn = new TxnRequest();
            for (var i = 0; i < workload._opsPerTxn; i++)
            {
                txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = keys.Key((first + i) % keys.Size), Value = workload._value } });
            }
            await kv.TxnAsync(txn, cancellationToken: cancellationToken);
        }
    }
}
