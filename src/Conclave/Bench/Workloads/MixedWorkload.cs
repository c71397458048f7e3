using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;

namespace Conclave.Bench.Workloads;

/// <summary>
/// `mixed`: each operation is, with probability <paramref name="readRatio"/>, a Range of one
/// key of the key space (linearizable unless <paramref name="serializable"/>), otherwise a Put
/// to one. Reads and writes are reported as separate series. Reads of keys not written yet
/// find nothing; run `put` over the same key space first to read real values.
/// </summary>
public sealed class MixedWorkload(KeySpace keys, int valueSize, double readRatio, bool serializable, int seed) : IWorkload
{
    private readonly ByteString _value = PutWorkload.RandomValue(valueSize, seed);

    public string Name => "mixed";

    public IReadOnlyList<string> OperationSeries { get; } = ["read", "write"];

    public IReadOnlyDictionary<string, string> Parameters => new SortedDictionary<string, string>(PutWorkload.KeyParameters(keys, valueSize), StringComparer.Ordinal)
    {
        ["read-ratio"] = readRatio.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["consistency"] = serializable ? "s" : "l",
    };

    public Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken) => Task.CompletedTask;

    public BenchClient CreateClient(int index, BenchConnections connections) =>
        new Client(new KV.KVClient(connections.ForClient(index)), keys, _value, readRatio, serializable, new Random(seed + index));

    public Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SeriesRecorder>>([]);

    private sealed class Client(KV.KVClient kv, KeySpace keys, ByteString value, double readRatio, bool serializable, Random random) : BenchClient
    {
        private const int Read = 0;
        private const int Write = 1;

        public override int NextSeries() => random.NextDouble() < readRatio ? Read : Write;

        public override async Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken)
        {
            var key = keys.Key(keys.IndexFor(operation, random));
            if (series == Read)
            {
                await kv.RangeAsync(new RangeRequest { Key = key, Serializable = serializable }, cancellationToken: cancellationToken);
            }
            else
            {
                await kv.PutAsync(new PutRequest { Key = key, Value = value }, cancellationToken: cancellationToken);
            }
        }
    }
}
