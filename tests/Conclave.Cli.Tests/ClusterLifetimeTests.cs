using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Conclave.Testing.Etcd;

namespace Conclave.Cli.Tests;

/// <summary>
/// Real multi-member runs: dev-cluster's members do not outlive a SIGKILLed dev-cluster, and a
/// write to a cluster that lost its quorum fails with the person-readable "no leader" message.
/// </summary>
public sealed class ClusterLifetimeTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Dev_cluster_members_exit_and_free_their_ports_when_dev_cluster_is_SIGKILLed()
    {
        var directory = Directory.CreateTempSubdirectory("conclave-devcluster-kill-");
        var pids = new List<int>();
        try
        {
            var basePort = DevClusterTests.FreeRange();
            await using var cluster = new RunningCli("dev-cluster", "--members", "2", "--base-port", basePort.ToString(CultureInfo.InvariantCulture),
                "--data-dir", directory.FullName, "-w", "json");
            var line = await cluster.WaitForLineAsync(l => l.StartsWith('{'), "dev-cluster's json line (members up)");
            var ports = new List<int>();
            using (var doc = JsonDocument.Parse(line))
            {
                foreach (var member in doc.RootElement.GetProperty("members").EnumerateArray())
                {
                    pids.Add(member.GetProperty("pid").GetInt32());
                    ports.AddRange(member.GetProperty("ports").EnumerateArray().Select(p => p.GetInt32()));
                }
            }
            Assert.Equal(2, pids.Count);
            Assert.All(ports, p => Assert.False(DevClusterTests.Bindable(p), $"port {p} should be in use by a member"));

            await cluster.KillAloneAsync();

            foreach (var pid in pids)
            {
                Assert.True(await ProcessExit.WaitAsync(pid, ExitTimeout),
                    $"member pid {pid} was still running {ExitTimeout.TotalSeconds} s after its dev-cluster was SIGKILLed");
            }
            Assert.All(ports, p => Assert.True(DevClusterTests.Bindable(p), $"port {p} still in use after every member exited"));
            var log = await File.ReadAllTextAsync(Path.Combine(directory.FullName, "m0.log"));
            Assert.Contains("serving member m0", log);
        }
        finally
        {
            foreach (var pid in pids)
            {
                KillIfRunning(pid);
            }
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_write_without_quorum_says_no_leader_and_which_members_are_unreachable()
    {
        var ports = FreePort.Take(9);
        var clientPorts = ports[..3];
        var initialCluster = string.Join(',', Enumerable.Range(0, 3).Select(i => $"m{i}=http://127.0.0.1:{ports[3 + i]}"));
        var directory = Directory.CreateTempSubdirectory("conclave-noleader-");
        var members = new List<LoggedProcess>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                members.Add(new LoggedProcess(Cli.Start([
                    "serve", "--name", $"m{i}", "--data-dir", Path.Combine(directory.FullName, $"m{i}"),
                    "--listen-client-urls", $"http://127.0.0.1:{clientPorts[i]}", "--advertise-client-urls", $"http://127.0.0.1:{clientPorts[i]}",
                    "--listen-peer-urls", $"http://127.0.0.1:{ports[3 + i]}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{ports[3 + i]}",
                    "--listen-metrics-urls", $"http://127.0.0.1:{ports[6 + i]}", "--initial-cluster", initialCluster,
                ])));
            }
            var endpoints = string.Join(',', clientPorts.Select(p => $"127.0.0.1:{p}"));
            var health = await Cli.RunInProcessAsync("endpoint", "health", "--wait", "60s", "--endpoints", endpoints, "--timeout", "5s");
            Assert.True(health.ExitCode == 0, $"the 3 members did not become healthy: {health}\n{string.Join("\n", members.Select(m => m.Log))}");
            var put = await Cli.RunAsync("put", "k", "v", "--endpoints", endpoints, "--timeout", "5s");
            Assert.True(put.ExitCode == 0, put.ToString());

            // Kill the leader and one follower, so the same path runs every time: the survivor is a
            // follower that loses its leader and cannot win an election.
            var status = await Cli.RunInProcessAsync("endpoint", "status", "-w", "json", "--endpoints", endpoints, "--timeout", "5s");
            Assert.True(status.ExitCode == 0, status.ToString());
            int leader;
            using (var doc = JsonDocument.Parse(status.Stdout))
            {
                leader = doc.RootElement.EnumerateArray().ToList().FindIndex(e => e.GetProperty("is_leader").GetBoolean());
            }
            Assert.True(leader >= 0, $"no member reports being the leader: {status.Stdout}");
            var killed = new[] { leader, (leader + 1) % 3 }.Order().ToArray();
            foreach (var i in killed)
            {
                await members[i].KillAsync();
            }
            // Until its election timeout passes the survivor still follows the dead leader (a write
            // then waits for its timeout, as in etcd); once it has given the leader up it answers
            // "no leader" at once, which is what this test is about.
            var survivor = Enumerable.Range(0, 3).Single(i => !killed.Contains(i));
            await members[survivor].WaitForLogAsync("leader is now 0000000000000000");

            var failed = await Cli.RunAsync("put", "k", "v2", "--endpoints", endpoints, "--timeout", "5s");
            Assert.True(failed.ExitCode == 3, failed.ToString());
            Assert.Equal(
                $"Error: no leader: 2 of 3 members unreachable: 127.0.0.1:{clientPorts[killed[0]]}: connection refused; 127.0.0.1:{clientPorts[killed[1]]}: connection refused\n",
                failed.Stderr);
            Assert.Equal("", failed.Stdout);
        }
        finally
        {
            foreach (var member in members)
            {
                await member.KillAsync();
            }
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Serve_with_exit_on_stdin_eof_stops_cleanly_when_its_stdin_closes()
    {
        var ports = FreePort.Take(3);
        var directory = Directory.CreateTempSubdirectory("conclave-stdin-eof-");
        var member = new LoggedProcess(Cli.Start([
            "serve", "--data-dir", Path.Combine(directory.FullName, "data"),
            "--listen-client-urls", $"http://127.0.0.1:{ports[0]}", "--advertise-client-urls", $"http://127.0.0.1:{ports[0]}",
            "--listen-peer-urls", $"http://127.0.0.1:{ports[1]}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{ports[1]}",
            "--initial-cluster", $"default=http://127.0.0.1:{ports[1]}", "--listen-metrics-urls", $"http://127.0.0.1:{ports[2]}",
            "--exit-on-stdin-eof",
        ], redirectInput: true));
        try
        {
            // Serving, not only leader: a sole voter is leader before its listeners are up.
            await member.WaitForLogAsync("Conclave.Serve[3100] serving");
            member.CloseStdin();
            var exitCode = await member.WaitForExitAsync("serve exits after its stdin closed");
            Assert.True(exitCode == 0, $"exit {exitCode}\n{member.Log}");
            Assert.Contains("stdin closed (the parent process is gone); stopping", member.Log);
            Assert.Contains("Conclave.Serve[3101] stopping", member.Log); // the clean SIGTERM path, not a crash
            Assert.Matches("member [0-9a-f]{16} stopped", member.Log);
            Assert.All(ports, p => Assert.True(DevClusterTests.Bindable(p), $"port {p} still in use after serve exited"));
        }
        finally
        {
            await member.KillAsync();
            directory.Delete(recursive: true);
        }
    }

    private static void KillIfRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>A child process whose stdout and stderr are kept (for failure messages).</summary>
    private sealed class LoggedProcess
    {
        private readonly Process _process;
        private readonly StringBuilder _log = new();

        public LoggedProcess(Process process)
        {
            _process = process;
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Log
        {
            get
            {
                lock (_log)
                {
                    return _log.ToString();
                }
            }
        }

        private void Append(string? line)
        {
            lock (_log)
            {
                _log.AppendLine(line);
                foreach (var waiter in _waiters.Where(w => line?.Contains(w.Text, StringComparison.Ordinal) == true).ToList())
                {
                    waiter.Done.TrySetResult();
                    _waiters.Remove(waiter);
                }
            }
        }

        private readonly List<(string Text, TaskCompletionSource Done)> _waiters = [];

        /// <summary>Waits for a log line containing <paramref name="text"/> (already logged or still to come).</summary>
        public async Task WaitForLogAsync(string text)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_log)
            {
                if (_log.ToString().Contains(text, StringComparison.Ordinal))
                {
                    return;
                }
                _waiters.Add((text, done));
            }
            var first = await Task.WhenAny(done.Task, _process.WaitForExitAsync(), Task.Delay(Cli.RunTimeout));
            if (first != done.Task)
            {
                throw new TimeoutException($"expected a log line with '{text}' (exited: {_process.HasExited})\n{Log}");
            }
        }

        public void CloseStdin() => _process.StandardInput.Close();

        public async Task<int> WaitForExitAsync(string what)
        {
            using var timeout = new CancellationTokenSource(Cli.RunTimeout);
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"expected the process to exit: {what}\n{Log}");
            }
            _process.WaitForExit();
            return _process.ExitCode;
        }

        public async Task KillAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            await _process.WaitForExitAsync();
        }
    }
}
