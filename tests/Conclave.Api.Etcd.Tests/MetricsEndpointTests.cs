using System.Globalization;
using System.Net;
using Conclave.Api.Etcd.Protocol;
using Conclave.Fuzz.Tests;
using Conclave.Server.Metrics;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Conclave.Api.Etcd.Tests;

/// <summary>
/// /metrics of an in-process single member behind the etcd front end (<see cref="EtcdFrontEndHost"/>:
/// one h2c listener on 127.0.0.1 for gRPC and HTTP): after a few puts every latency histogram is
/// there, has counted them and is well formed. The member's clock is fake (proposal durations are
/// 0), the WAL's fsync and the gRPC handling times are real: only counts and shape are checked.
/// </summary>
public sealed class MetricsEndpointTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Puts_are_counted_in_every_latency_histogram()
    {
        const int Puts = 5;
        await using var host = await EtcdFrontEndHost.StartAsync("metrics");
        var address = host.Address;
        using var channel = GrpcChannel.ForAddress(address);
        var kv = new KV.KVClient(channel);
        for (var i = 0; i < Puts; i++)
        {
            await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"/metrics/{i}"), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow + Timeout);
        }
        await kv.TxnAsync(new TxnRequest { Success = { new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8("/metrics/txn"), Value = ByteString.CopyFromUtf8("v") } } } }, deadline: DateTime.UtcNow + Timeout);
        using var http = new HttpClient { BaseAddress = new Uri(address), DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = Timeout };
        var text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));

        var walFsync = Series(text, MemberMetrics.WalFsyncName, "");
        var applied = Series(text, MemberMetrics.ProposalName, "stage=\"applied\"");
        var answered = Series(text, MemberMetrics.ProposalName, "stage=\"answered\"");
        var put = Series(text, EtcdMetrics.HandlingName, "grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"");
        var txn = Series(text, EtcdMetrics.HandlingName, "grpc_method=\"Txn\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"");
        // Each write was awaited before the next, so each had its own WAL batch and fsync.
        Assert.True(walFsync.Count >= Puts + 1, $"WAL fsyncs: {walFsync.Count}");
        Assert.True(applied.Count >= Puts + 1, $"applied proposals: {applied.Count}");
        Assert.True(answered.Count >= Puts + 1, $"answered proposals: {answered.Count}");
        Assert.Equal(Puts, put.Count);
        Assert.Equal(1, txn.Count);
        foreach (var (name, series) in new[] { ("wal", walFsync), ("applied", applied), ("answered", answered), ("put", put), ("txn", txn) })
        {
            Assert.True(series.Buckets.Count >= 2, $"{name}: buckets {series.Buckets.Count}");
            Assert.Equal("+Inf", series.Buckets[^1].Le);
            Assert.Equal(series.Count, series.Buckets[^1].Count);
            for (var i = 1; i < series.Buckets.Count; i++)
            {
                Assert.True(series.Buckets[i].Count >= series.Buckets[i - 1].Count, $"{name}: bucket le={series.Buckets[i].Le} is below the one before (not cumulative)");
                Assert.True(i == series.Buckets.Count - 1 || Le(series.Buckets[i].Le) > Le(series.Buckets[i - 1].Le), $"{name}: bounds not increasing at {series.Buckets[i].Le}");
            }
            Assert.True(series.Sum >= 0, $"{name}: sum {series.Sum}");
        }
        Assert.Single(text.Split('\n'), l => l == $"# TYPE {MemberMetrics.ProposalName} histogram");
        Assert.Single(text.Split('\n'), l => l == $"# TYPE {EtcdMetrics.HandlingName} histogram");
        Assert.Empty(host.Errors.Errors);
    }

    private sealed record HistogramSeries(IReadOnlyList<(string Le, long Count)> Buckets, double Sum, long Count);

    /// <summary>The series of histogram <paramref name="name"/> with exactly <paramref name="labels"/> (besides le) in Prometheus text.</summary>
    private static HistogramSeries Series(string text, string name, string labels)
    {
        var lines = text.Split('\n');
        var bucketPrefix = labels.Length == 0 ? $"{name}_bucket{{le=\"" : $"{name}_bucket{{{labels},le=\"";
        var suffix = labels.Length == 0 ? "" : $"{{{labels}}}";
        var buckets = lines.Where(l => l.StartsWith(bucketPrefix, StringComparison.Ordinal))
            .Select(l =>
            {
                var rest = l[bucketPrefix.Length..];
                var quote = rest.IndexOf('"', StringComparison.Ordinal);
                return (rest[..quote], long.Parse(rest[(rest.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
            }).ToList();
        var sum = lines.Single(l => l.StartsWith($"{name}_sum{suffix} ", StringComparison.Ordinal));
        var count = lines.Single(l => l.StartsWith($"{name}_count{suffix} ", StringComparison.Ordinal));
        return new HistogramSeries(
            buckets,
            double.Parse(sum[(sum.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture),
            long.Parse(count[(count.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    private static double Le(string le) => double.Parse(le, CultureInfo.InvariantCulture);
}
