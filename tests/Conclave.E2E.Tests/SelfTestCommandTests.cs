using System.CommandLine;
using System.Text.Json;
using Conclave.Api.Etcd.Protocol;
using Conclave.SelfTest;
using Conclave.Testing.Etcd;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Conclave.E2E.Tests;

/// <summary>
/// `conclave selftest`, run in process as the executable would run it: it passes against a real
/// `conclave serve` and a real etcd and leaves nothing behind, it fails against a server that
/// serves stale reads, and it tells an unreachable cluster and bad usage apart by exit code.
/// </summary>
public sealed class SelfTestCommandTests(ConclaveFixture fixture) : IClassFixture<ConclaveFixture>
{
    /// <summary>Longest one selftest run may take here: 3 s of load plus final reads, checks and cleanup.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Passes_against_conclave_serve_and_leaves_no_key_behind()
    {
        await PassesAndCleansUpAsync(fixture.Server.Endpoint);
    }

    [EtcdFact]
    public async Task Passes_against_real_etcd_and_leaves_no_key_behind()
    {
        await using var etcd = await RealEtcd.StartAsync();
        await PassesAndCleansUpAsync(etcd.Endpoint);
    }

    [Fact]
    public async Task Fails_with_a_linearizability_violation_against_a_server_serving_stale_reads()
    {
        await using var fake = await FakeEtcd.StartAsync(staleReads: true);

        var (exitCode, output, error) = await RunAsync("selftest", "--endpoints", fake.Endpoint, "--duration", "2s", "--clients", "1", "--keys", "2", "--seed", "7", "--output", "json");

        var report = Parse(output, error);
        Assert.True(exitCode == 1, $"expected exit code 1 (FAIL), got {exitCode}\n{output}\n{error}");
        Assert.Equal(SelfTestVerdict.Fail, report.Verdict);
        Assert.Contains(report.Reasons, r => r.StartsWith("linearizability: no linearization", StringComparison.Ordinal));
        Assert.Equal(0, report.Cleanup!.RemainingKeys);
        Assert.Equal(0, fake.Store.Count);
    }

    [Fact]
    public async Task The_same_fake_without_the_bug_passes()
    {
        await using var fake = await FakeEtcd.StartAsync(staleReads: false);

        var (exitCode, output, error) = await RunAsync("selftest", "--endpoints", fake.Endpoint, "--duration", "2s", "--clients", "1", "--keys", "2", "--seed", "7", "--output", "json");

        Assert.True(exitCode == 0, $"expected exit code 0 (PASS), got {exitCode}\n{output}\n{error}");
        Assert.Equal(SelfTestVerdict.Pass, Parse(output, error).Verdict);
        Assert.Equal(0, fake.Store.Count);
    }

    [Fact]
    public async Task A_checker_out_of_budget_gives_undecided_not_a_hang()
    {
        await using var fake = await FakeEtcd.StartAsync(staleReads: false);
        var settings = SelfTestSettings.Create(fake.Endpoint, "1s", clients: 2, keys: 2, prefix: null, seed: 3, output: "json") with { CheckMaxSteps = 1 };

        var report = await new SelfTestRunner(settings).RunAsync(CancellationToken.None).WaitAsync(RunTimeout);

        Assert.Equal(SelfTestVerdict.Undecided, report.Verdict);
        Assert.Equal(4, report.ExitCode);
        Assert.Contains(report.Reasons, r => r.StartsWith("linearizability: undecided", StringComparison.Ordinal));
        Assert.Equal(0, fake.Store.Count);
    }

    [Fact]
    public async Task Unreachable_endpoint_exits_3_with_a_clear_message()
    {
        var port = FreePort.Take(1)[0];

        var (exitCode, output, error) = await RunAsync("selftest", "--endpoints", $"127.0.0.1:{port}", "--duration", "1s");

        Assert.True(exitCode == 3, $"expected exit code 3, got {exitCode}\n{output}\n{error}");
        Assert.Contains($"selftest: cluster unreachable: no endpoint of 127.0.0.1:{port} answered", error, StringComparison.Ordinal);
        Assert.Contains("verdict: UNREACHABLE", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--clients must be between 1 and 64, got 0", "--clients", "0")]
    [InlineData("--duration must be between 1s and 10m, got 2h", "--duration", "2h")]
    [InlineData("--prefix must be at least 2 printable ASCII characters without spaces, got \"/\"", "--prefix", "/")]
    public async Task Bad_usage_exits_2(string message, params string[] args)
    {
        var (exitCode, _, error) = await RunAsync(["selftest", "--endpoints", "127.0.0.1:1", .. args]);

        Assert.Equal(2, exitCode);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_prefix_that_holds_keys_is_refused_and_left_alone()
    {
        await using var fake = await FakeEtcd.StartAsync(staleReads: false);
        fake.Store.Put("mine/precious", "data", 0);

        var (exitCode, output, error) = await RunAsync("selftest", "--endpoints", fake.Endpoint, "--prefix", "mine/", "--duration", "1s");

        Assert.True(exitCode == 2, $"expected exit code 2, got {exitCode}\n{output}\n{error}");
        Assert.Contains("1 keys already exist under mine/", output, StringComparison.Ordinal);
        Assert.Equal(1, fake.Store.Count);
        Assert.Equal(2, fake.Store.Revision);
    }

    private static async Task PassesAndCleansUpAsync(string endpoint)
    {
        using var channel = GrpcChannel.ForAddress($"http://{endpoint}");
        var kv = new KV.KVClient(channel);
        var outside = ByteString.CopyFromUtf8("selftest-outside/key");
        var put = await kv.PutAsync(new PutRequest { Key = outside, Value = ByteString.CopyFromUtf8("untouched") });

        var (exitCode, output, error) = await RunAsync("selftest", "--endpoints", endpoint, "--duration", "3s", "--clients", "3", "--keys", "3", "--seed", "5", "--output", "json");

        var report = Parse(output, error);
        Assert.True(exitCode == 0, $"expected exit code 0 (PASS), got {exitCode}\n{output}\n{error}");
        Assert.Equal(SelfTestVerdict.Pass, report.Verdict);
        Assert.Empty(report.Reasons);
        Assert.StartsWith(SelfTestSettings.DefaultPrefixRoot, report.Prefix, StringComparison.Ordinal);
        Assert.True(report.Operations.Sum(o => o.Ok) > 0, "no operation was answered");
        Assert.True(report.WatchEvents > 0, "the watchers saw no event");
        Assert.StartsWith("ok", report.Lease, StringComparison.Ordinal);
        Assert.Equal(0, report.Cleanup!.RemainingKeys);
        Assert.Equal(0, report.Cleanup.LeasesRevoked);

        var root = ByteString.CopyFromUtf8(SelfTestSettings.DefaultPrefixRoot);
        var rootEnd = ByteString.CopyFromUtf8(SelfTestSettings.DefaultPrefixRoot[..^1] + "0");
        var left = await kv.RangeAsync(new RangeRequest { Key = root, RangeEnd = rootEnd, CountOnly = true });
        Assert.Equal(0, left.Count);
        var after = await kv.RangeAsync(new RangeRequest { Key = outside });
        Assert.Equal("untouched", Assert.Single(after.Kvs).Value.ToStringUtf8());
        Assert.Equal(put.Header.Revision, after.Kvs[0].ModRevision);
        var leases = await new Lease.LeaseClient(channel).LeaseLeasesAsync(new LeaseLeasesRequest());
        Assert.Empty(leases.Leases);
    }

    private static SelfTestReport Parse(string output, string error)
    {
        try
        {
            return JsonSerializer.Deserialize(output, SelfTestJsonContext.Default.SelfTestReport)
                ?? throw new JsonException("null report");
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"selftest did not print a JSON report ({e.Message})\nstdout: {output}\nstderr: {error}");
        }
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        try
        {
            var configuration = new InvocationConfiguration { Output = output, Error = TextWriter.Synchronized(error) };
            var exitCode = await Program.InvokeAsync(args, configuration).WaitAsync(RunTimeout);
            return (exitCode, output.ToString(), error.ToString());
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"`conclave {string.Join(' ', args)}` did not finish within {RunTimeout}; stderr so far:\n{error}");
        }
    }
}
