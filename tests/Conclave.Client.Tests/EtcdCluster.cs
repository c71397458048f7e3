using System.Diagnostics;
using Conclave.Api.Etcd.Protocol;
using Conclave.Testing.Etcd;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Client.Tests;

/// <summary>
/// A real three-member etcd cluster on free 127.0.0.1 ports (the shared harness starts single
/// members only). Started members answer a linearizable read before <see cref="StartAsync"/>
/// returns; <see cref="Kill"/> stops one; disposing kills all and deletes their data.
/// </summary>
public sealed class EtcdCluster : IAsyncDisposable
{
    private readonly List<(Process Process, DirectoryInfo Data)> _members = [];

    private EtcdCluster(int[] clientPorts) => ClientPorts = clientPorts;

    public int[] ClientPorts { get; }

    public string[] Endpoints => ClientPorts.Select(p => $"127.0.0.1:{p}").ToArray();

    public static async Task<EtcdCluster> StartAsync(int size = 3)
    {
        var etcd = EtcdTools.EtcdPath ?? throw new InvalidOperationException(EtcdTools.MissingReason() ?? "etcd is not on PATH");
        var ports = FreePort.Take(size * 2);
        var cluster = new EtcdCluster(ports[..size]);
        var initial = string.Join(',', Enumerable.Range(0, size).Select(i => $"m{i}=http://127.0.0.1:{ports[size + i]}"));
        var token = "client-tests-" + Guid.NewGuid().ToString("N");
        try
        {
            for (var i = 0; i < size; i++)
            {
                var data = Directory.CreateTempSubdirectory("conclave-client-etcd-");
                var start = new ProcessStartInfo(etcd)
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                foreach (var argument in (string[])[
                    "--name", $"m{i}", "--data-dir", data.FullName,
                    "--listen-client-urls", $"http://127.0.0.1:{ports[i]}", "--advertise-client-urls", $"http://127.0.0.1:{ports[i]}",
                    "--listen-peer-urls", $"http://127.0.0.1:{ports[size + i]}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{ports[size + i]}",
                    "--initial-cluster", initial, "--initial-cluster-token", token, "--initial-cluster-state", "new",
                    "--heartbeat-interval", "50", "--election-timeout", "500",
                    "--logger", "zap", "--log-outputs", "stderr",
                ])
                {
                    start.ArgumentList.Add(argument);
                }
                foreach (var variable in start.Environment.Keys.Where(k => k.StartsWith("ETCD_", StringComparison.Ordinal)).ToList())
                {
                    start.Environment.Remove(variable);
                }
                var process = Process.Start(start)!;
                process.OutputDataReceived += (_, _) => { };
                process.ErrorDataReceived += (_, _) => { };
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                cluster._members.Add((process, data));
            }
            await Task.WhenAll(cluster.ClientPorts.Select(WaitReadyAsync));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>A linearizable read with wait-for-ready: answered once the member is up and the cluster has a leader.</summary>
    private static async Task WaitReadyAsync(int port)
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var options = new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)).WithWaitForReady();
        await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("health") }, options);
    }

    /// <summary>The index of the member that currently leads (asked of every live member until one knows).</summary>
    public async Task<int> LeaderIndexAsync()
    {
        var ids = new ulong[ClientPorts.Length];
        ulong leader = 0;
        for (var i = 0; i < ClientPorts.Length; i++)
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{ClientPorts[i]}");
            var status = await new Maintenance.MaintenanceClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
            ids[i] = status.Header.MemberId;
            leader = status.Leader;
        }
        return Array.IndexOf(ids, leader);
    }

    public void Kill(int index)
    {
        var process = _members[index].Process;
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (process, data) in _members)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            await process.WaitForExitAsync();
            process.Dispose();
            data.Delete(recursive: true);
        }
    }
}
