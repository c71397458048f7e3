using System.Text.Json;

namespace Conclave.Cli.Tests;

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "one conclave serve";
}

/// <summary>put/get/del/watch/txn/compact against one real member, in the three output formats.</summary>
[Collection(ServerCollection.Name)]
public sealed class KvCommandTests(ServerFixture server)
{
    [Fact]
    public async Task Put_then_get_in_every_output_format()
    {
        Assert.Contains("OK", (await server.OkAsync("put", "kv1/a", "hello world")).Stdout);
        var put2 = await server.OkAsync("put", "kv1/a", "second", "--prev-kv", "-w", "json");
        using (var doc = JsonDocument.Parse(put2.Stdout))
        {
            Assert.Equal("hello world", doc.RootElement.GetProperty("prev_kv").GetProperty("value").GetString());
        }

        var json = await server.OkAsync("get", "kv1/a", "-w", "json");
        using (var doc = JsonDocument.Parse(json.Stdout))
        {
            var kv = doc.RootElement.GetProperty("kvs")[0];
            Assert.Equal("kv1/a", kv.GetProperty("key").GetString());
            Assert.Equal("second", kv.GetProperty("value").GetString());
            Assert.Equal(2, kv.GetProperty("version").GetInt64());
            Assert.Equal(1, doc.RootElement.GetProperty("count").GetInt64());
            Assert.Equal(kv.GetProperty("mod_revision").GetInt64(), doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64());
        }

        Assert.Equal("kv1/a\nsecond\n", (await server.OkAsync("get", "kv1/a", "--output", "plain")).Stdout);

        var human = (await server.OkAsync("get", "kv1/a")).Stdout;
        Assert.Contains("KEY", human);
        Assert.Contains("kv1/a", human);
        Assert.Contains("second", human);
        Assert.DoesNotContain("\u001b[", human); // redirected: no colour codes
    }

    [Fact]
    public async Task Get_ranges_sort_limit_count_keys_only_and_revision()
    {
        var first = await server.OkAsync("put", "kv2/b", "1", "-w", "json");
        long firstRevision;
        using (var doc = JsonDocument.Parse(first.Stdout))
        {
            firstRevision = doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64();
        }
        await server.OkAsync("put", "kv2/a", "2");
        await server.OkAsync("put", "kv2/c", "3");
        await server.OkAsync("put", "kv2/b", "4");
        await server.OkAsync("put", "kv3", "outside");

        Assert.Equal("kv2/a\n2\nkv2/b\n4\nkv2/c\n3\n", (await server.OkAsync("get", "kv2/", "--prefix", "-w", "plain")).Stdout);
        Assert.Equal("kv2/c\nkv2/b\n", (await server.OkAsync("get", "kv2/", "--prefix", "--keys-only", "--sort-by", "KEY", "--order", "DESCEND", "--limit", "2", "-w", "plain")).Stdout);
        Assert.Equal("3\n", (await server.OkAsync("get", "kv2/", "--prefix", "--count-only", "-w", "plain")).Stdout);
        Assert.Equal("kv2/b\nkv2/c\n", (await server.OkAsync("get", "kv2/b", "kv2/d", "--keys-only", "-w", "plain")).Stdout);
        Assert.Equal("kv2/c\nkv3\n", (await server.OkAsync("get", "kv2/c", "--from-key", "--keys-only", "--limit", "2", "-w", "plain")).Stdout);
        Assert.Equal("kv2/b\n1\n", (await server.OkAsync("get", "kv2/b", "--rev", firstRevision.ToString(System.Globalization.CultureInfo.InvariantCulture), "-w", "plain")).Stdout);
        Assert.Equal("kv2/a\n2\nkv2/c\n3\nkv2/b\n4\n", (await server.OkAsync("get", "kv2/", "--prefix", "--sort-by", "modify", "--order", "ascend", "-w", "plain")).Stdout);
    }

    [Fact]
    public async Task A_missing_key_exits_1_with_a_message_and_no_output()
    {
        var result = await server.RunAsync("get", "kv-missing/none", "-w", "plain");
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal("Error: key not found: kv-missing/none\n", result.Stderr);
        // A prefix with no keys is not an error.
        Assert.Equal("", (await server.OkAsync("get", "kv-missing/", "--prefix", "-w", "plain")).Stdout);
    }

    [Fact]
    public async Task Del_prefix_reports_the_count_and_previous_values()
    {
        await server.OkAsync("put", "kv4/x", "1");
        await server.OkAsync("put", "kv4/y", "2");
        var del = await server.OkAsync("del", "kv4/", "--prefix", "--prev-kv", "-w", "json");
        using var doc = JsonDocument.Parse(del.Stdout);
        Assert.Equal(2, doc.RootElement.GetProperty("deleted").GetInt64());
        Assert.Equal(["1", "2"], doc.RootElement.GetProperty("prev_kvs").EnumerateArray().Select(kv => kv.GetProperty("value").GetString()));
        Assert.Equal("0\n", (await server.OkAsync("del", "kv4/x", "-w", "plain")).Stdout);
        Assert.Equal(2, (await server.RunAsync("del", "", "--prefix")).ExitCode);
    }

    [Fact]
    public async Task Watch_replays_from_a_revision_and_stops_after_max_events()
    {
        var first = await server.OkAsync("put", "kv5/k", "v1", "-w", "json");
        using var doc = JsonDocument.Parse(first.Stdout);
        var revision = doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture);
        await server.OkAsync("put", "kv5/k", "v2");
        await server.OkAsync("del", "kv5/k");

        Assert.Equal("PUT\nkv5/k\nv1\nPUT\nkv5/k\nv1\nkv5/k\nv2\nDELETE\nkv5/k\nv2\nkv5/k\n",
            (await server.OkAsync("watch", "kv5/", "--prefix", "--rev", revision, "--prev-kv", "--max-events", "3", "-w", "plain")).Stdout);

        var json = (await server.OkAsync("watch", "kv5/k", "--rev", revision, "--max-events", "2", "-w", "json")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, json.Length);
        using var second = JsonDocument.Parse(json[1]);
        Assert.Equal("PUT", second.RootElement.GetProperty("type").GetString());
        Assert.Equal("v2", second.RootElement.GetProperty("kv").GetProperty("value").GetString());

        var human = (await server.OkAsync("watch", "kv5/k", "--rev", revision, "--max-events", "3")).Stdout;
        Assert.Contains("PUT", human);
        Assert.Contains("kv5/k = v2", human);
        Assert.Contains("DELETE", human);
    }

    [Fact]
    public async Task Txn_reads_etcdctl_interactive_format_from_stdin()
    {
        await server.OkAsync("put", "kv6/flag", "on");
        var script = "value(\"kv6/flag\") = \"on\"\nversion(\"kv6/new\") = 0\n\nput kv6/new \"a b\"\nget kv6/flag\n\nput kv6/new lost\n";
        var success = await Cli.RunAsync(["txn", "-w", "plain", "--endpoints", server.Endpoint, "--timeout", Cli.TestTimeout], script);
        Assert.True(success.ExitCode == 0, success.ToString());
        Assert.Equal("SUCCESS\n\nOK\n\nkv6/flag\non\n", success.Stdout);

        // Now version("kv6/new") is 1: the failure branch runs.
        var failure = await Cli.RunAsync(["txn", "-w", "json", "--endpoints", server.Endpoint, "--timeout", Cli.TestTimeout], script);
        Assert.True(failure.ExitCode == 0, failure.ToString());
        using (var doc = JsonDocument.Parse(failure.Stdout))
        {
            Assert.False(doc.RootElement.GetProperty("succeeded").GetBoolean());
        }
        Assert.Equal("kv6/new\nlost\n", (await server.OkAsync("get", "kv6/new", "-w", "plain")).Stdout);

        var bad = await Cli.RunAsync(["txn", "--endpoints", server.Endpoint], "versoin(\"k\") = 0\n\nput k v\n");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("'versoin' in 'versoin(\"k\") = 0' is not one of value, version, create, mod, lease", bad.Stderr);
    }

    [Fact]
    public async Task Reading_a_compacted_revision_fails_with_exit_1()
    {
        var first = await server.OkAsync("put", "kv7/k", "v1", "-w", "json");
        using var doc = JsonDocument.Parse(first.Stdout);
        var revision = doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64();
        var second = await server.OkAsync("put", "kv7/k", "v2", "-w", "json");
        using var doc2 = JsonDocument.Parse(second.Stdout);
        var compactTo = doc2.RootElement.GetProperty("header").GetProperty("revision").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"compacted revision {compactTo}\n", (await server.OkAsync("compact", compactTo, "-w", "plain")).Stdout);

        var old = await server.RunAsync("get", "kv7/k", "--rev", revision.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, old.ExitCode);
        Assert.Equal("Error: the requested revision has been compacted\n", old.Stderr);
    }
}
