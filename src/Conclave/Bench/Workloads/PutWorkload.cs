using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;

namespace Conclave.Bench.Workloads;

/// <summary>`put`: each operation is one Put of a <paramref name="valueSize"/>-byte value to a key of the key space.</summary>
public sealed class PutWorkload(KeySpace keys, int valueSize, int seed) : IWorkload
{
    private readonly ByteString _value = RandomValue(valueSize, seed);

    public string Name => "put";

    public IReadOnlyList<string> OperationSeries { get; } = ["put"];

    public IReadOnlyDictionary<string, string> Parameters => KeyParameters(keys, valueSize);

    public Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken) => Task.CompletedTask;

    public BenchClient CreateClient(int index, BenchConnections connections) =>
        new Client(new KV.KVClient(connections.ForClient(index)), keys, _value, new Random(seed + index));

    public Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SeriesRecorder>>([]);

    /// <summary>A value of <paramref name="size"/> printable bytes chosen by <paramref name="seed"/>.</summary>
    public static ByteString RandomValue(int size, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[size];
        for (var i = 0; i < size; i++)
        {
            bytes[i] = (byte)random.Next('a', 'z' + 1);
        }
        return ByteString.CopyFrom(bytes);
    }

    public static SortedDictionary<string, string> KeyParameters(KeySpace keys, int valueSize) => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["key-prefix"] = keys.Prefix.ToStringUtf8(),
        ["key-size"] = keys.KeySize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["key-space-size"] = keys.Size.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["sequential-keys"] = keys.Sequential ? "true" : "false",
        ["val-size"] = valueSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private sealed class Client(KV.KVClient kv, KeySpace keys, ByteString value, Random random) : BenchClient
    {
        public override async Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken) =>
            await kv.PutAsync(new PutRequest { Key = keys.Key(keys.IndexFor(operation, random)), Value = value }, cancellationToken: cancellationToken);
    }
}
