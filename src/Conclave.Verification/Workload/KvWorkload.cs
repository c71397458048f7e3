using System.Diagnostics;
using System.Net.Sockets;
using Conclave.Api.Etcd.Protocol;
using Conclave.Verification.Linearizability;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Verification.Workload;

/// <summary>
/// Concurrent clients, one operation open each, on a small key set: linearizable gets (40%),
/// puts (25%), compare-and-swap txns (20%), deletes (15%). Each client talks to one member and
/// moves to the next after an error. Every operation is recorded with its outcome. It touches
/// only the keys it is given; values are "c{client}-{sequence}", unique within one workload.
/// </summary>
public sealed class KvWorkload(IReadOnlyList<Uri> clientUrls, int clients, IReadOnlyList<string> keys, int seed, TimeSpan opTimeout)
{
    private readonly List<RecordedOp> _history = [];
    private readonly Lock _lock = new();

    /// <summary>The robustness harness's prefix (its clusters are its own).</summary>
    public const string KeyPrefix = "rob/";

    public static IReadOnlyList<string> Keys(int count) => Keys(KeyPrefix, count);

    /// <summary>Keys "{prefix}k0" .. "{prefix}k{count-1}".</summary>
    public static IReadOnlyList<string> Keys(string prefix, int count) => Enumerable.Range(0, count).Select(i => $"{prefix}k{i}").ToList();

    public IReadOnlyList<RecordedOp> History
    {
        get
        {
            lock (_lock)
            {
                return _history.ToList();
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _history.Count;
            }
        }
    }

    /// <summary>Runs until <paramref name="stop"/> is cancelled; open operations finish (or time out) first.</summary>
    public Task RunAsync(CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(() => ClientLoopAsync(c, stop), CancellationToken.None)));

    /// <summary>A linearizable get of each key, recorded like any operation (run after recovery).</summary>
    /// <remarks>Cancelling <paramref name="cancellationToken"/> records the remaining reads with unknown outcome.</remarks>
    public async Task FinalReadsAsync(int clientId, CancellationToken cancellationToken = default)
    {
        using var channel = GrpcChannel.ForAddress(clientUrls[0]);
        var kv = new KV.KVClient(channel);
        foreach (var key in keys)
        {
            Record(await ExecuteAsync(kv, clientId, KvInput.Get(key), TimeSpan.FromSeconds(10), cancellationToken));
        }
    }

    private async Task ClientLoopAsync(int clientId, CancellationToken stop)
    {
        var random = new Random(HashCode.Combine(seed, clientId));
        var member = clientId % clientUrls.Count;
        var channel = GrpcChannel.ForAddress(clientUrls[member]);
        var kv = new KV.KVClient(channel);
        var sequence = 0;
        var lastSeen = new Dictionary<string, string?>();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var key = keys[random.Next(keys.Count)];
                var roll = random.Next(100);
                var value = $"c{clientId}-{sequence++}";
                KvInput input = roll switch
                {
                    < 40 => KvInput.Get(key),
                    < 65 => KvInput.Put(key, value),
                    < 85 => KvInput.Cas(key, lastSeen.GetValueOrDefault(key), value),
                    _ => KvInput.Delete(key),
                };
                var op = await ExecuteAsync(kv, clientId, input, opTimeout);
                Record(op);
                if (op.Outcome == OpOutcome.Ok)
                {
                    lastSeen[key] = input.Op switch
                    {
                        KvOp.Get => op.Output!.Value,
                        KvOp.Put => input.Value,
                        KvOp.CompareAndSwap when op.Output!.Succeeded => input.Value,
                        KvOp.Delete => null,
                        _ => lastSeen.GetValueOrDefault(key),
                    };
                }
                else
                {
                    // Try another member, after a pause so an outage does not turn into thousands of unknown operations.
                    channel.Dispose();
                    member = (member + 1) % clientUrls.Count;
                    channel = GrpcChannel.ForAddress(clientUrls[member]);
                    kv = new KV.KVClient(channel);
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(100 + random.Next(200)), stop);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            channel.Dispose();
        }
    }

    private void Record(RecordedOp op)
    {
        lock (_lock)
        {
            _history.Add(op);
        }
    }

    private static async Task<RecordedOp> ExecuteAsync(KV.KVClient kv, int clientId, KvInput input, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var options = new CallOptions(deadline: DateTime.UtcNow + timeout, cancellationToken: cancellationToken);
        var key = ByteString.CopyFromUtf8(input.Key);
        var call = Stopwatch.GetTimestamp();
        try
        {
            (KvOutput output, long revision) result;
            switch (input.Op)
            {
                case KvOp.Get:
                    var range = await kv.RangeAsync(new RangeRequest { Key = key }, options);
                    result = (KvOutput.Read(range.Kvs.Count == 0 ? null : range.Kvs[0].Value.ToStringUtf8()), range.Header.Revision);
                    break;
                case KvOp.Put:
                    var put = await kv.PutAsync(new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(input.Value) }, options);
                    result = (KvOutput.Done, put.Header.Revision);
                    break;
                case KvOp.CompareAndSwap:
                    var compare = input.Expected is null
                        ? new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 }
                        : new Compare { Key = key, Target = Compare.Types.CompareTarget.Value, Result = Compare.Types.CompareResult.Equal, Value = ByteString.CopyFromUtf8(input.Expected) };
                    var txn = new TxnRequest();
                    txn.Compare.Add(compare);
                    txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(input.Value) } });
                    var txnResponse = await kv.TxnAsync(txn, options);
                    result = (KvOutput.Swapped(txnResponse.Succeeded), txnResponse.Header.Revision);
                    break;
                case KvOp.Delete:
                    var delete = await kv.DeleteRangeAsync(new DeleteRangeRequest { Key = key }, options);
                    result = (KvOutput.Swapped(delete.Deleted > 0), delete.Header.Revision);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(input), input.Op, "robustness: unknown operation");
            }

            return new RecordedOp(clientId, input, OpOutcome.Ok, result.output, call, Stopwatch.GetTimestamp(), result.revision, null);
        }
        catch (RpcException e)
        {
            var outcome = NeverSent(e) ? OpOutcome.Failed : OpOutcome.Unknown;
            return new RecordedOp(clientId, input, outcome, null, call, Stopwatch.GetTimestamp(), 0, $"{e.StatusCode}: {e.Status.Detail}");
        }
    }

    /// <summary>True when the connection was refused: the request cannot have reached a server.</summary>
    private static bool NeverSent(RpcException e)
    {
        for (Exception? inner = e.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return true;
            }
        }

        return false;
    }
}
