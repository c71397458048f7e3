using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using Conclave.Client;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>
/// `conclave dev-cluster --members N`: starts N `conclave serve` children of this same executable
/// on 127.0.0.1 (member i: client port BASE+i, peer BASE+10+i, HTTP BASE+20+i), waits until every
/// member knows the leader, prints the endpoints and the CONCLAVE_ENDPOINTS line, and stops them
/// all (SIGTERM) on Ctrl-C / SIGTERM. The members' data and logs go to --data-dir (a new temp
/// directory by default), removed on exit unless --keep-data. For trying things out, not production.
/// </summary>
public static class DevClusterCommand
{
    public const int MaxMembers = 9;

    public static Command Create()
    {
        var members = new Option<int>("--members") { Description = $"How many members (1..{MaxMembers}).", DefaultValueFactory = _ => 3 };
        var basePort = new Option<int>("--base-port") { Description = "Member i listens for clients on BASE+i, for peers on BASE+10+i, HTTP on BASE+20+i.", DefaultValueFactory = _ => 23790 };
        var dataDir = new Option<string?>("--data-dir") { Description = "Where the members' data and logs go (default: a new temp directory)." };
        var keepData = new Option<bool>("--keep-data") { Description = "Leave the data and logs in place on exit." };
        var output = new Option<string>("--output", "-o", "-w") { Description = "human, json or plain.", DefaultValueFactory = _ => "human" };
        output.AcceptOnlyFromAmong("human", "json", "plain");
        var command = new Command("dev-cluster", "Start a local cluster of N members for trying things out; Ctrl-C stops it.") { members, basePort, dataDir, keepData, output };
        command.SetAction(async (parse, ct) =>
        {
            var n = parse.GetValue(members);
            var port = parse.GetValue(basePort);
            var error = parse.InvocationConfiguration.Error;
            if (n is < 1 or > MaxMembers || port is < 1 or > 65535 - 30)
            {
                await error.WriteLineAsync($"Error: --members must be 1..{MaxMembers} and --base-port 1..{65535 - 30}");
                return ExitCodes.Usage;
            }
            var format = parse.GetValue(output) switch { "json" => OutputFormat.Json, "plain" => OutputFormat.Plain, _ => OutputFormat.Human };
            var given = parse.GetValue(dataDir);
            var root = Path.GetFullPath(given ?? Path.Combine(Path.GetTempPath(), $"conclave-dev-{Guid.NewGuid():N}"[..24]));
            var createdRoot = !Directory.Exists(root);
            Directory.CreateDirectory(root);
            var cluster = new DevCluster(root, n, port);
            try
            {
                return await cluster.RunAsync(parse.InvocationConfiguration.Output, error, format, ct);
            }
            finally
            {
                await cluster.StopAsync();
                if (!parse.GetValue(keepData))
                {
                    cluster.DeleteData(createdRoot);
                }
            }
        });
        return command;
    }

    private sealed class DevCluster(string root, int count, int basePort)
    {
        private readonly List<Process> _processes = [];
        private readonly List<StreamWriter> _logs = [];

        private string Name(int i) => $"m{i}";

        private string ClientUrl(int i) => $"http://127.0.0.1:{basePort + i}";

        private string PeerUrl(int i) => $"http://127.0.0.1:{basePort + 10 + i}";

        private string LogPath(int i) => Path.Combine(root, Name(i) + ".log");

        public IReadOnlyList<string> Endpoints => Enumerable.Range(0, count).Select(i => $"127.0.0.1:{basePort + i}").ToList();

        public async Task<int> RunAsync(TextWriter output, TextWriter error, OutputFormat format, CancellationToken ct)
        {
            var busy = Enumerable.Range(0, count).SelectMany(i => new[] { basePort + i, basePort + 10 + i, basePort + 20 + i }).Where(InUse).ToList();
            if (busy.Count > 0)
            {
                await error.WriteLineAsync($"Error: port(s) {string.Join(", ", busy)} already in use; pick another --base-port");
                return ExitCodes.Failed;
            }
            var initialCluster = string.Join(',', Enumerable.Range(0, count).Select(i => $"{Name(i)}={PeerUrl(i)}"));
            var token = $"dev-cluster-{Guid.NewGuid():N}"[..20];
            for (var i = 0; i < count; i++)
            {
                _processes.Add(StartMember(i, initialCluster, token));
            }
            var ready = await WaitForLeaderAsync(ct);
            if (ready is not null)
            {
                await error.WriteLineAsync($"Error: {ready}");
                return ExitCodes.Failed;
            }
            var endpoints = string.Join(',', Endpoints);
            switch (format)
            {
                case OutputFormat.Json:
                    output.WriteLine(new JsonObject
                    {
                        ["endpoints"] = new JsonArray(Endpoints.Select(e => (JsonNode)JsonValue.Create(e)).ToArray()),
                        ["data_dir"] = root,
                        ["members"] = new JsonArray(Enumerable.Range(0, count).Select(i => (JsonNode)new JsonObject
                        {
                            ["name"] = Name(i),
                            ["endpoint"] = Endpoints[i],
                            ["pid"] = _processes[i].Id,
                            ["ports"] = new JsonArray(basePort + i, basePort + 10 + i, basePort + 20 + i),
                        }).ToArray()),
                    }.ToJsonString());
                    break;
                case OutputFormat.Plain:
                    output.WriteLine($"CONCLAVE_ENDPOINTS={endpoints}");
                    break;
                default:
                    var console = CliContext.CreateConsole(output);
                    var table = new Table().Border(TableBorder.Rounded).AddColumn("MEMBER").AddColumn("CLIENT URL").AddColumn("PEER URL").AddColumn("LOG");
                    for (var i = 0; i < count; i++)
                    {
                        table.AddRow(Name(i), ClientUrl(i), PeerUrl(i), Markup.Escape(LogPath(i)));
                    }
                    console.Write(table);
                    console.MarkupLine($"[green]{count} members are up.[/] In another shell:");
                    console.MarkupLine($"  export CONCLAVE_ENDPOINTS={endpoints}");
                    console.MarkupLine("Ctrl-C stops the cluster.");
                    break;
            }
            output.Flush();
            var exited = Task.WhenAny(_processes.Select(p => p.WaitForExitAsync(CancellationToken.None)));
            await Task.WhenAny(exited, Task.Delay(Timeout.Infinite, ct)).ContinueWith(_ => { }, TaskScheduler.Default);
            if (!ct.IsCancellationRequested)
            {
                var dead = _processes.FindIndex(p => p.HasExited);
                await error.WriteLineAsync($"Error: member {Name(dead)} exited with code {_processes[dead].ExitCode}; see {LogPath(dead)}");
                return ExitCodes.Failed;
            }
            return ExitCodes.Ok;
        }

        private Process StartMember(int i, string initialCluster, string token)
        {
            var self = Environment.ProcessPath ?? "dotnet";
            var viaDotnet = Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
            var start = new ProcessStartInfo(self)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                // The members watch this pipe (serve --exit-on-stdin-eof): nothing is ever written
                // to it, and when this process dies, SIGKILL included, they read end of file and stop.
                RedirectStandardInput = true,
                WorkingDirectory = root,
            };
            if (viaDotnet)
            {
                start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
            }
            foreach (var arg in new[]
            {
                "serve",
                "--name", Name(i),
                "--data-dir", Path.Combine(root, Name(i)),
                "--listen-client-urls", ClientUrl(i),
                "--advertise-client-urls", ClientUrl(i),
                "--listen-peer-urls", PeerUrl(i),
                "--initial-advertise-peer-urls", PeerUrl(i),
                "--listen-metrics-urls", $"http://127.0.0.1:{basePort + 20 + i}",
                "--initial-cluster", initialCluster,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", token,
                Serve.ServeCommand.ExitOnStdinEofFlag,
            })
            {
                start.ArgumentList.Add(arg);
            }
            // The members take their settings from the flags only.
            foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(v => v.StartsWith("CONCLAVE_", StringComparison.Ordinal)))
            {
                start.Environment.Remove(name);
            }
            var log = new StreamWriter(LogPath(i)) { AutoFlush = true };
            _logs.Add(log);
            var process = Process.Start(start)!;
            process.OutputDataReceived += (_, e) => Append(log, e.Data);
            process.ErrorDataReceived += (_, e) => Append(log, e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return process;
        }

        private static void Append(StreamWriter log, string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (log)
            {
                try
                {
                    log.WriteLine(line);
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }

        /// <summary>Null once every member reports the same leader; else why not (a member exited, or 60 s passed).</summary>
        private async Task<string?> WaitForLeaderAsync(CancellationToken ct)
        {
            await using var client = new ConclaveClient(Endpoints, new ConclaveClientOptions { RequestTimeout = TimeSpan.FromSeconds(2), DialTimeout = TimeSpan.FromSeconds(1) });
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                var dead = _processes.FindIndex(p => p.HasExited);
                if (dead >= 0)
                {
                    return $"member {Name(dead)} exited with code {_processes[dead].ExitCode} while starting; see {LogPath(dead)}";
                }
                try
                {
                    var statuses = await Task.WhenAll(Endpoints.Select(e => client.StatusAsync(e, ct)));
                    if (statuses.All(s => s.LeaderId != 0 && s.LeaderId == statuses[0].LeaderId))
                    {
                        return null;
                    }
                }
                catch (Exception e) when (e is ConclaveException or Grpc.Core.RpcException)
                {
                    // Not listening yet, or no leader yet.
                }
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
            }
            return $"the members did not agree on a leader within 60 s; see the logs in {root}";
        }

        /// <summary>SIGTERM to every member (a clean stop), then kill whatever has not exited after 10 s.</summary>
        public async Task StopAsync()
        {
            foreach (var p in _processes.Where(p => !p.HasExited))
            {
                try
                {
                    using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", p.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false });
                    kill?.WaitForExit();
                }
                catch (System.ComponentModel.Win32Exception)
                {
                    p.Kill(entireProcessTree: true);
                }
            }
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            foreach (var p in _processes)
            {
                try
                {
                    await p.WaitForExitAsync(grace.Token);
                }
                catch (OperationCanceledException)
                {
                    p.Kill(entireProcessTree: true);
                    await p.WaitForExitAsync(CancellationToken.None);
                }
                p.Dispose();
            }
            foreach (var log in _logs)
            {
                lock (log)
                {
                    log.Dispose();
                }
            }
        }

        /// <summary>Removes what this run created: the members' directories and logs, and the root if it created it.</summary>
        public void DeleteData(bool createdRoot)
        {
            try
            {
                if (createdRoot)
                {
                    Directory.Delete(root, recursive: true);
                    return;
                }
                for (var i = 0; i < count; i++)
                {
                    if (Directory.Exists(Path.Combine(root, Name(i))))
                    {
                        Directory.Delete(Path.Combine(root, Name(i)), recursive: true);
                    }
                    File.Delete(LogPath(i));
                }
            }
            catch (IOException)
            {
            }
        }

        private static bool InUse(int port)
        {
            try
            {
                var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
                listener.Start();
                listener.Stop();
                return false;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return true;
            }
        }
    }
}
