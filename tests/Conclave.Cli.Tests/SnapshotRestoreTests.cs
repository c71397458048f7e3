using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Conclave.Testing.Etcd;

namespace Conclave.Cli.Tests;

/// <summary>
/// `conclave snapshot restore` end to end with real processes: one `conclave serve` member's
/// snapshot becomes a new three-member cluster of `conclave serve` processes, checked with the real
/// etcdctl (keys, revision, the lease, the member list).
/// </summary>
public sealed class SnapshotRestoreTests
{
    private const string Token = "restored-cluster";

    [EtcdctlFact]
    public async Task A_saved_snapshot_restores_into_a_new_three_member_cluster_that_etcdctl_reads()
    {
        var root = Directory.CreateTempSubdirectory("conclave-restore-");
        var members = new List<MemberProcess>();
        try
        {
            var file = Path.Combine(root.FullName, "backup.db");
            long revision;
            string leaseHex;
            await using (var server = await ServerProcess.StartAsync())
            {
                var endpoint = server.Endpoint;
                foreach (var (key, value) in new[] { ("app/a", "1"), ("app/b", "2"), ("app/a", "3"), ("other", "x") })
                {
                    var put = await Cli.RunInProcessAsync("put", key, value, "--endpoints", endpoint, "--timeout", Cli.TestTimeout);
                    Assert.True(put.ExitCode == 0, put.ToString());
                }
                var grant = await Cli.RunInProcessAsync("lease", "grant", "600", "-w", "json", "--endpoints", endpoint, "--timeout", Cli.TestTimeout);
                Assert.True(grant.ExitCode == 0, grant.ToString());
                using (var doc = JsonDocument.Parse(grant.Stdout))
                {
                    leaseHex = doc.RootElement.GetProperty("ID").GetInt64().ToString("x", System.Globalization.CultureInfo.InvariantCulture);
                }
                var leased = await Cli.RunInProcessAsync("put", "app/leased", "L", "--lease", leaseHex, "-w", "json", "--endpoints", endpoint, "--timeout", Cli.TestTimeout);
                Assert.True(leased.ExitCode == 0, leased.ToString());
                using (var doc = JsonDocument.Parse(leased.Stdout))
                {
                    revision = doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64();
                }
                var save = await Cli.RunAsync("snapshot", "save", file, "-w", "plain", "--endpoints", endpoint, "--timeout", Cli.TestTimeout);
                Assert.True(save.ExitCode == 0, save.ToString());
            }

            var ports = FreePort.Take(9);
            var names = new[] { "r1", "r2", "r3" };
            string PeerUrl(int i) => $"http://127.0.0.1:{ports[(3 * i) + 1]}";
            var initialCluster = string.Join(',', names.Select((n, i) => $"{n}={PeerUrl(i)}"));
            string[] Flags(int i) =>
            [
                "--name", names[i], "--data-dir", Path.Combine(root.FullName, names[i]), "--initial-cluster", initialCluster,
                "--initial-cluster-token", Token, "--initial-advertise-peer-urls", PeerUrl(i),
            ];

            // A damaged copy is refused (exit 1) and writes nothing.
            var bytes = await File.ReadAllBytesAsync(file);
            bytes[bytes.Length / 2] ^= 0x10;
            var damaged = Path.Combine(root.FullName, "damaged.db");
            await File.WriteAllBytesAsync(damaged, bytes);
            var refused = await Cli.RunInProcessAsync(["snapshot", "restore", damaged, .. Flags(0)]);
            Assert.Equal(1, refused.ExitCode);
            Assert.Equal("Error: snapshot not restored: the snapshot is damaged: its SHA-256 checksum does not match\n", refused.Stderr);
            Assert.False(Directory.Exists(Path.Combine(root.FullName, names[0])));

            JsonElement restored = default;
            for (var i = 0; i < 3; i++)
            {
                var r = await Cli.RunAsync(["snapshot", "restore", file, "-w", "json", .. Flags(i)]);
                Assert.True(r.ExitCode == 0, r.ToString());
                using var doc = JsonDocument.Parse(r.Stdout);
                Assert.Equal(revision, doc.RootElement.GetProperty("revision").GetInt64());
                Assert.Equal(names[i], doc.RootElement.GetProperty("name").GetString());
                if (i == 0)
                {
                    restored = doc.RootElement.Clone();
                }
                else
                {
                    // Every member wrote the same cluster: same id, raft index and members.
                    Assert.Equal(restored.GetProperty("cluster_id").GetString(), doc.RootElement.GetProperty("cluster_id").GetString());
                    Assert.Equal(restored.GetProperty("raft_index").GetUInt64(), doc.RootElement.GetProperty("raft_index").GetUInt64());
                    Assert.Equal(restored.GetProperty("members").GetRawText(), doc.RootElement.GetProperty("members").GetRawText());
                }
            }

            // A used data dir is refused.
            var again = await Cli.RunInProcessAsync(["snapshot", "restore", file, .. Flags(0)]);
            Assert.Equal(1, again.ExitCode);
            Assert.Contains("exists and is not empty", again.Stderr, StringComparison.Ordinal);

            for (var i = 0; i < 3; i++)
            {
                members.Add(MemberProcess.Start(
                [
                    "serve", .. Flags(i),
                    "--listen-client-urls", $"http://127.0.0.1:{ports[3 * i]}",
                    "--listen-peer-urls", PeerUrl(i),
                    "--listen-metrics-urls", $"http://127.0.0.1:{ports[(3 * i) + 2]}",
                ]));
            }
            await Task.WhenAll(members.Select(m => m.ReadyAsync()));

            for (var i = 0; i < 3; i++)
            {
                var etcdctl = new Etcdctl($"127.0.0.1:{ports[3 * i]}");
                var get = (await etcdctl.RunAsync("get", "app/", "--prefix")).EnsureSuccess();
                Assert.Equal("app/a\n3\napp/b\n2\napp/leased\nL\n", get.StdOut);
                var json = (await etcdctl.RunAsync("get", "other", "-w", "json")).EnsureSuccess();
                using var doc = JsonDocument.Parse(json.StdOut);
                Assert.Equal(revision, doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64());
            }

            var client = new Etcdctl($"127.0.0.1:{ports[3]}");
            var ttl = (await client.RunAsync("lease", "timetolive", leaseHex, "--keys")).EnsureSuccess();
            Assert.Contains("attached keys([app/leased])", ttl.StdOut, StringComparison.Ordinal);
            var list = (await client.RunAsync("member", "list")).EnsureSuccess();
            var rows = list.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(", "))
                .Select(f => $"{f[0]} {f[2]} {f[3]} {f[5]}")
                .Order(StringComparer.Ordinal);
            var expected = restored.GetProperty("members").EnumerateArray()
                .Select(m => $"{m.GetProperty("ID").GetString()} {m.GetProperty("name").GetString()} {m.GetProperty("peerURLs")[0].GetString()} false")
                .Order(StringComparer.Ordinal);
            Assert.Equal(expected, rows);
            Assert.Equal(3, rows.Count());

            var written = (await client.RunAsync("put", "after", "restore", "-w", "json")).EnsureSuccess();
            using (var doc = JsonDocument.Parse(written.StdOut))
            {
                Assert.Equal(revision + 1, doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64());
            }
        }
        finally
        {
            foreach (var m in members)
            {
                await m.DisposeAsync();
            }
            root.Delete(recursive: true);
        }
    }

    /// <summary>One `conclave serve` child process; ready once it serves and knows a leader (awaited from its log).</summary>
    private sealed class MemberProcess : IAsyncDisposable
    {
        private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

        private readonly Process _process;
        private readonly StringBuilder _log = new();
        private readonly TaskCompletionSource _serving = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _knowsLeader = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private MemberProcess(IEnumerable<string> args)
        {
            _process = Cli.Start(args);
            _process.OutputDataReceived += (_, e) => OnLine(e.Data);
            _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public static MemberProcess Start(IEnumerable<string> args) => new(args);

        public async Task ReadyAsync()
        {
            var ready = Task.WhenAll(_serving.Task, _knowsLeader.Task);
            if (await Task.WhenAny(ready, _process.WaitForExitAsync(), Task.Delay(StartTimeout)) != ready)
            {
                string log;
                lock (_log)
                {
                    log = _log.ToString();
                }
                throw new TimeoutException($"expected the restored member to serve and know a leader within {StartTimeout.TotalSeconds} s (or it exited). Log:\n{log}");
            }
        }

        private void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (_log)
            {
                _log.AppendLine(line);
            }
            if (line.Contains("serving member", StringComparison.Ordinal))
            {
                _serving.TrySetResult();
            }
            if (line.Contains("this member is Leader", StringComparison.Ordinal) || line.Contains("this member is Follower", StringComparison.Ordinal))
            {
                _knowsLeader.TrySetResult();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
