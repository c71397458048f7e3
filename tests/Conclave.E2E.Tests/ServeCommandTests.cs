using System.Net.Http.Json;
using System.Text.Json;

namespace Conclave.E2E.Tests;

/// <summary>`conclave serve` start-up errors, its HTTP endpoints and the JSON gateway.</summary>
public sealed class ServeCommandTests(ConclaveFixture fixture) : IClassFixture<ConclaveFixture>
{
    private readonly ConclaveProcess _server = fixture.Server;

    [Theory]
    [InlineData("unknown flag or argument '--no-such-flag'", "--no-such-flag")]
    [InlineData("--initial-cluster has no member named 'a' (--name)", "--name=a", "--initial-cluster=b=http://127.0.0.1:1")]
    [InlineData("--initial-cluster-state must be 'new' or 'existing', not 'old'", "--initial-cluster-state=old")]
    [InlineData("--election-timeout (200) must be at least 5 times --heartbeat-interval (100)", "--election-timeout=200")]
    [InlineData("--heartbeat-interval must be a whole number", "--heartbeat-interval=fast")]
    [InlineData("--auto-compaction-mode must be 'periodic' or 'revision', not 'sometimes'", "--auto-compaction-mode=sometimes")]
    public async Task Bad_flags_fail_at_start_with_exit_code_2(string message, params string[] args)
    {
        var directory = Directory.CreateTempSubdirectory("conclave-flags-").FullName;
        try
        {
            var (exitCode, output) = await ConclaveProcess.RunToExitAsync(directory, args);

            Assert.Equal(2, exitCode);
            Assert.Contains(message, output, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Environment_and_config_file_are_read_and_checked()
    {
        var directory = Directory.CreateTempSubdirectory("conclave-flags-").FullName;
        try
        {
            var config = Path.Combine(directory, "conclave.json");
            await File.WriteAllTextAsync(config, """{"name":"x","heartbeat-interval":100,"colour":"blue"}""");

            var (exitCode, output) = await ConclaveProcess.RunToExitAsync(
                directory, ["--config-file", config], new Dictionary<string, string> { ["CONCLAVE_ELECTION_TIMEOUT"] = "300" });

            Assert.Equal(2, exitCode);
            Assert.Contains("unknown setting 'colour'", output, StringComparison.Ordinal);
            Assert.Contains("--election-timeout (300) must be at least 5 times --heartbeat-interval (100)", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Health_version_metrics_and_gateway_answer_over_http()
    {
        using var http = new HttpClient { BaseAddress = _server.HttpUrl };

        var health = await http.GetStringAsync(new Uri("/health", UriKind.Relative));
        var version = await http.GetStringAsync(new Uri("/version", UriKind.Relative));
        var put = await http.PostAsync(new Uri("/v3/kv/put", UriKind.Relative), JsonContent.Create(new { key = "Z3cvYQ==", value = "MQ==" }));
        var range = await http.PostAsync(new Uri("/v3/kv/range", UriKind.Relative), JsonContent.Create(new { key = "Z3cvYQ==" }));
        var empty = await http.PostAsync(new Uri("/v3/kv/range", UriKind.Relative), JsonContent.Create(new { key = "" }));
        using (var grpc = new dotnet_etcd.EtcdClient(_server.ClientUrl.ToString().TrimEnd('/')))
        {
            await grpc.GetAsync("gw/a");
        }
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));

        Assert.Equal("""{"health":"true","reason":""}""", health);
        Assert.Equal("""{"etcdserver":"3.6.0","etcdcluster":"3.6.0"}""", version);
        Assert.True(put.IsSuccessStatusCode);
        using var doc = JsonDocument.Parse(await range.Content.ReadAsStringAsync());
        var kv = doc.RootElement.GetProperty("kvs")[0];
        Assert.Equal("MQ==", kv.GetProperty("value").GetString());
        Assert.Equal(JsonValueKind.String, kv.GetProperty("mod_revision").ValueKind);
        Assert.Equal(400, (int)empty.StatusCode);
        Assert.Equal("""{"error":"etcdserver: key is not provided","code":3,"message":"etcdserver: key is not provided"}""", await empty.Content.ReadAsStringAsync());
        Assert.Contains("etcd_server_has_leader 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 1\n", metrics, StringComparison.Ordinal);
    }
}
