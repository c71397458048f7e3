using Conclave.Api.Etcd.Protocol;
using Google.Protobuf;

namespace Conclave.Bench.Workloads;

/// <summary>
/// `range`: each operation is one Range of <paramref name="key"/>, or of every key starting
/// with it when <paramref name="prefix"/>; linearizable unless <paramref name="serializable"/>.
/// </summary>
public sealed class RangeWorkload(ByteString key, bool prefix, bool serializable) : IWorkload
{
    public string Name => "range";

    public IReadOnlyList<string> OperationSeries { get; } = ["range"];

    public IReadOnlyDictionary<string, string> Parameters => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["key"] = key.ToStringUtf8(),
        ["prefix"] = prefix ? "true" : "false",
        ["consistency"] = serializable ? "s" : "l",
    };

    public Task SetupAsync(BenchConnections connections, CancellationToken cancellationToken) => Task.CompletedTask;

    public BenchClient CreateClient(int index, BenchConnections connections)
    {
        var request = new RangeRequest { Key = key, Serializable = serializable };
        if (prefix)
        {
            request.RangeEnd = KeySpace.PrefixEnd(key);
        }
        return new Client(new KV.KVClient(connections.ForClient(index)), request);
    }

    public Task<IReadOnlyList<SeriesRecorder>> FinishAsync(IReadOnlyList<SeriesRecorder> operations, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SeriesRecorder>>([]);

    /// <param name="request">Shared by every operation of the client; never modified.</param>
    private sealed class Client(KV.KVClient kv, RangeRequest request) : BenchClient
    {
        public override async Task ExecuteAsync(int series, long operation, CancellationToken cancellationToken) =>
            await kv.RangeAsync(request, cancellationToken: cancellationToken);
    }
}
