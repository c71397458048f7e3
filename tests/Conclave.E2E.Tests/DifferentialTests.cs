using System.Text;
using Conclave.Testing.Etcd;

namespace Conclave.E2E.Tests;

/// <summary>
/// The same etcdctl script against a fresh real etcd and a fresh `conclave serve`: after masking
/// what legitimately differs (ids, ports, term, raft index, db size, version), the outputs must be
/// equal — revisions, values, versions and error messages included.
/// </summary>
public sealed class DifferentialTests
{
    private static readonly (string[] Args, string? Stdin)[] Script =
    [
        (["put", "/d/a", "1"], null),
        (["put", "/d/b", "2"], null),
        (["put", "/d/a", "3"], null),
        (["put", "/d/c", "4", "--prev-kv"], null),
        (["put", "/d/a", "5", "--prev-kv"], null),
        (["get", "/d/", "--prefix", "-w", "json"], null),
        (["get", "/d/a", "--rev=2"], null),
        (["get", "/d/a", "--rev=99"], null),
        (["get", "/d/", "--prefix", "--sort-by=CREATE", "--order=DESCEND", "--limit=1", "-w", "json"], null),
        (["get", "/d/", "--from-key", "--keys-only"], null),
        (["get", "/d/none"], null),
        (["del", "/d/b", "--prev-kv"], null),
        (["del", "/d/none"], null),
        (["txn", "-w", "json"], "mod(\"/d/a\") > \"0\"\nversion(\"/d/c\") = \"1\"\n\nput /d/t yes\nget /d/a\n\nput /d/t no\n\n"),
        (["txn"], "value(\"/d/a\") = \"nope\"\n\nput /d/t yes\n\nget /d/t\ndel /d/c\n\n"),
        (["txn"], "\nput /d/x 1\nput /d/x 2\n\n\n"),
        (["get", "/d/", "--prefix", "-w", "json"], null),
        (["compaction", "4"], null),
        (["get", "/d/a", "--rev=3"], null),
        (["compaction", "2"], null),
        (["get", "/d/a", "--rev=4", "-w", "json"], null),
        (["lease", "grant", "100"], null),
        (["lease", "timetolive", "abcdef"], null),
        (["lease", "revoke", "abcdef"], null),
        (["put", "/d/l", "v", "--lease=abcdef"], null),
        (["endpoint", "status"], null),
        (["member", "list"], null),
        (["get", "", "--prefix", "--count-only=true"], null),
    ];

    [EtcdFact]
    public async Task Etcdctl_script_prints_the_same_as_on_a_real_etcd()
    {
        string expected;
        await using (var etcd = await RealEtcd.StartAsync())
        {
            expected = await RunScriptAsync(etcd.Etcdctl(), etcd.OutputMask());
        }
        string actual;
        await using (var conclave = await ConclaveProcess.StartAsync())
        {
            var ids = await IdsAsync(conclave.Etcdctl());
            actual = await RunScriptAsync(conclave.Etcdctl(), new EtcdOutputMask(ids.ClusterId, ids.MemberId));
        }

        if (expected != actual)
        {
            // Both transcripts side by side for whoever reads the failure.
            var dir = Path.Combine(Path.GetTempPath(), "conclave-differential");
            Directory.CreateDirectory(dir);
            await File.WriteAllTextAsync(Path.Combine(dir, "etcd.txt"), expected);
            await File.WriteAllTextAsync(Path.Combine(dir, "conclave.txt"), actual);
        }
        Assert.Equal(expected, actual);
    }

    private static async Task<(ulong ClusterId, ulong MemberId)> IdsAsync(Etcdctl ctl)
    {
        var json = (await ctl.RunAsync("get", "x", "-w", "json")).EnsureSuccess().StdOut;
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var header = doc.RootElement.GetProperty("header");
        return (header.GetProperty("cluster_id").GetUInt64(), header.GetProperty("member_id").GetUInt64());
    }

    private static async Task<string> RunScriptAsync(Etcdctl ctl, EtcdOutputMask mask)
    {
        var transcript = new StringBuilder();
        foreach (var (args, stdin) in Script)
        {
            var result = await ctl.RunAsync(args, stdin);
            transcript.Append("$ etcdctl ").AppendJoin(' ', args).Append('\n');
            transcript.Append(mask.Mask(result.StdOut));
            transcript.Append(mask.Mask(result.StdErr));
            transcript.Append("exit ").Append(result.ExitCode).Append('\n');
        }
        return transcript.ToString();
    }
}
