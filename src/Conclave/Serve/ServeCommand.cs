using System.CommandLine;
using Conclave.Api.Etcd;
using Conclave.Server;
using Conclave.Server.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Conclave.Serve;

/// <summary>
/// `conclave serve`: runs one member and its etcd front end until Ctrl-C / SIGTERM. gRPC (h2c) on
/// --listen-client-urls, HTTP/1.1 (/health, /version, /metrics, JSON gateway) on
/// --listen-metrics-urls, raft peers on --listen-peer-urls. Exit codes: 0 stopped cleanly (also when
/// the member was removed from the cluster, as etcd), 1 the member failed, 2 bad flags or settings.
/// </summary>
public static partial class ServeCommand
{
    public static Command Create()
    {
        var command = new Command("serve", "Run a Conclave member that speaks the etcd v3 API (flags as etcd's).")
        {
            // Unknown flags are reported by the action with exit code 2, like every other settings problem.
            TreatUnmatchedTokensAsErrors = false,
        };
        var options = new Dictionary<string, Option<string>>(StringComparer.Ordinal);
        foreach (var flag in ServeSettingsParser.Flags)
        {
            // --wal-segment-bytes is for tests (not an etcd flag): left out of --help.
            var option = new Option<string>("--" + flag) { Description = Describe(flag), Hidden = flag is "wal-segment-bytes" };
            options[flag] = option;
            command.Options.Add(option);
        }
        var configFile = new Option<string>("--config-file") { Description = "JSON file of settings keyed by flag name; flags and CONCLAVE_* variables override it." };
        command.Options.Add(configFile);
        // Hidden: set by `conclave dev-cluster`, whose members must not outlive it (docs/cli.md).
        var exitOnStdinEof = new Option<bool>(ExitOnStdinEofFlag) { Description = "Stop when stdin reaches end of file (the parent closed it or died).", Hidden = true };
        command.Options.Add(exitOnStdinEof);

        command.SetAction(async (parse, ct) =>
        {
            var errors = new List<string>();
            foreach (var token in parse.UnmatchedTokens)
            {
                errors.Add($"unknown flag or argument '{token}'");
            }
            var given = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (flag, option) in options)
            {
                var value = parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option) : null;
                if (value is not null)
                {
                    given[flag] = value;
                }
            }
            var settings = ServeSettingsParser.Parse(given, parse.GetValue(configFile), Environment.GetEnvironmentVariable, errors);
            if (settings is null || errors.Count > 0)
            {
                foreach (var error in errors)
                {
                    await Console.Error.WriteLineAsync($"conclave serve: {error}").ConfigureAwait(false);
                }
                return 2;
            }
            if (!parse.GetValue(exitOnStdinEof))
            {
                return await RunAsync(settings, ct).ConfigureAwait(false);
            }
            using var parentGone = CancellationTokenSource.CreateLinkedTokenSource(ct);
            StopOnStdinEof(parentGone);
            return await RunAsync(settings, parentGone.Token).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The hidden flag that makes a member stop cleanly when its stdin reaches end of file.</summary>
    public const string ExitOnStdinEofFlag = "--exit-on-stdin-eof";

    /// <summary>
    /// Cancels <paramref name="stop"/> once stdin reaches end of file. A parent that keeps the
    /// write end of a pipe open and never writes to it is then watched without polling: the kernel
    /// closes the pipe when the parent exits in any way, SIGKILL included.
    /// </summary>
    private static void StopOnStdinEof(CancellationTokenSource stop)
    {
        var reader = new Thread(() =>
        {
            try
            {
                using var stdin = Console.OpenStandardInput();
                var buffer = new byte[256];
                while (stdin.Read(buffer, 0, buffer.Length) > 0)
                {
                }
            }
            catch (IOException)
            {
            }
            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            try
            {
                // The parent usually read our stderr, so this line often has no reader left.
                Console.Error.WriteLine("conclave serve: stdin closed (the parent process is gone); stopping");
            }
            catch (IOException)
            {
            }
        })
        { IsBackground = true, Name = "stdin-eof-watch" };
        reader.Start();
    }

    private static string Describe(string flag) => flag switch
    {
        "name" => "Member name (default 'default').",
        "data-dir" => "Data directory (default '<name>.conclave').",
        "listen-client-urls" => "gRPC (h2c) listen URLs (default http://127.0.0.1:2379).",
        "advertise-client-urls" => "Client URLs published in the member list (default: the listen URLs).",
        "listen-peer-urls" => "Raft peer listen URL (default http://127.0.0.1:2380).",
        "initial-advertise-peer-urls" => "This member's peer URLs as the others reach them (default: the listen URL).",
        "listen-metrics-urls" => "HTTP/1.1 listen URLs for /health, /version, /metrics and the JSON gateway (default http://127.0.0.1:2381).",
        "initial-cluster" => "name=peerURL,... of every initial member (default <name>=<advertise peer URL>).",
        "initial-cluster-state" => "'new' or 'existing'.",
        "initial-cluster-token" => "Cluster token; members of one cluster must share it (default etcd-cluster).",
        "heartbeat-interval" => "Raft heartbeat interval in ms (default 100).",
        "election-timeout" => "Raft election timeout in ms (default 1000).",
        "snapshot-count" => "Applied entries between snapshots (default 100000; a snapshot is also taken after 64 MiB of entries).",
        "snapshot-catchup-entries" => "Log entries kept behind each snapshot for slow followers; one further behind gets the snapshot (default 5000).",
        "wal-segment-bytes" => "Size of one WAL segment file (default 67108864; for tests).",
        "quota-backend-bytes" => "Store size quota in bytes; 0 = 2 GiB.",
        "max-request-bytes" => "Largest client request in bytes (default 1572864).",
        "auto-compaction-mode" => "'periodic' or 'revision'.",
        "auto-compaction-retention" => "Periodic: hours or a duration (1h30m); revision: revisions to keep. 0 = off.",
        _ => flag,
    };

    /// <summary>Starts the member and the front end, then waits for <paramref name="ct"/> (Ctrl-C / SIGTERM) or a member failure.</summary>
    public static async Task<int> RunAsync(ServeSettings settings, CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        // With its logger enabled at any level, ASP.NET Core's hosting diagnostics create an Activity
        // (and its tags) for every request; it logs nothing we show, so it is switched off.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // The command owns shutdown (its token is canceled on Ctrl-C / SIGTERM); the host must not race it.
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        var limits = new EtcdLimits { MaxRequestBytes = settings.MaxRequestBytes };
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = limits.MaxGatewayBodyBytes;
            // etcd serves any number of concurrent streams on one connection (--max-concurrent-streams
            // defaults to 2^32-1); clientv3 multiplexes every call and watch over one. Kestrel's
            // default of 100 would queue the 101st call of such a client.
            kestrel.Limits.Http2.MaxStreamsPerConnection = int.MaxValue;
            foreach (var url in settings.ListenClientUrls)
            {
                kestrel.Listen(ServeSettingsParser.EndPoint(url), o =>
                {
                    o.Protocols = HttpProtocols.Http2;
                    o.UseH2cAuthorityFix();
                });
            }
            foreach (var url in settings.ListenMetricsUrls)
            {
                kestrel.Listen(ServeSettingsParser.EndPoint(url), o => o.Protocols = HttpProtocols.Http1);
            }
        });

        // The logger factory of the host is built with the app; the member needs one before, so build it now.
        using var loggerFactory = LoggerFactory.Create(b =>
        {
            b.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
            });
            b.SetMinimumLevel(LogLevel.Information);
        });
        var log = loggerFactory.CreateLogger("Conclave.Serve");

        var memberOptions = new ConclaveMemberOptions
        {
            Name = settings.Name,
            DataDir = settings.DataDir,
            InitialCluster = settings.InitialCluster,
            InitialClusterToken = settings.InitialClusterToken,
            InitialClusterState = settings.InitialClusterStateNew ? InitialClusterState.New : InitialClusterState.Existing,
            ClientUrls = settings.AdvertiseClientUrls.Select(u => u.ToString().TrimEnd('/')).ToList(),
            HeartbeatIntervalMs = settings.HeartbeatIntervalMs,
            ElectionTimeoutMs = settings.ElectionTimeoutMs,
            SnapshotCount = settings.SnapshotCount,
            SnapshotCatchUpEntries = settings.SnapshotCatchUpEntries,
            WalSegmentBytes = settings.WalSegmentBytes,
            QuotaBytes = settings.QuotaBackendBytes > 0 ? settings.QuotaBackendBytes : 2L * 1024 * 1024 * 1024,
            MaxRequestBytes = settings.MaxRequestBytes,
            LoggerFactory = loggerFactory,
            Transport = null!,
        };
        StoredIdentity identity;
        try
        {
            // The data dir's ids when it has them (a restart ignores the initial-cluster flags, as etcd).
            identity = ConclaveMember.IdentityOf(memberOptions);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            LogStartFailed(log, e.Message);
            return 1;
        }
        var transport = new TcpPeerTransport(
            new TcpPeerTransportOptions
            {
                ClusterId = identity.ClusterId,
                LocalId = identity.MemberId,
                MaxFrameBytes = memberOptions.PeerMaxFrameBytes,
                ListenEndPoint = ServeSettingsParser.EndPoint(settings.ListenPeerUrls[0]),
            },
            TimeProvider.System,
            loggerFactory.CreateLogger("Conclave.Server.Transport"));

        ConclaveMember member;
        try
        {
            member = await ConclaveMember.StartAsync(memberOptions with { Transport = transport }, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or System.Net.Sockets.SocketException)
        {
            LogStartFailed(log, e.Message);
            await transport.DisposeAsync().ConfigureAwait(false);
            return 1;
        }

        await using (member.ConfigureAwait(false))
        {
            builder.Services.AddEtcdFrontEnd(new ConclaveMemberFrontEnd(member), limits);
            var app = builder.Build();
            app.MapEtcdGrpc();
            app.MapEtcdHttp();
            try
            {
                await app.StartAsync(ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                LogStartFailed(log, e.Message);
                await app.DisposeAsync().ConfigureAwait(false);
                return 1;
            }
            LogServing(log, settings.Name, member.MemberId, string.Join(',', settings.ListenClientUrls), string.Join(',', settings.ListenMetricsUrls), settings.DataDir);

            using var stopCompactor = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var compactor = new AutoCompactor(member.KeyValue, settings, TimeProvider.System, log).RunAsync(stopCompactor.Token);
            var exitCode = 0;
            var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (ct.Register(() => stopped.TrySetResult()))
            {
                var first = await Task.WhenAny(stopped.Task, member.Completion).ConfigureAwait(false);
                if (first == member.Completion && member.IsRemoved && member.Completion.IsCompletedSuccessfully)
                {
                    // etcd logs the same and exits 0: restarting on this data dir would only be removed again.
                    LogRemoved(log, member.MemberId, settings.DataDir);
                }
                else if (first == member.Completion)
                {
                    exitCode = 1;
                    LogMemberStopped(log, member.Completion.Exception?.GetBaseException().Message ?? "member loop ended");
                }
            }
            LogStopping(log);
            await stopCompactor.CancelAsync().ConfigureAwait(false);
            await compactor.ConfigureAwait(false);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await app.StopAsync(grace.Token).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            return exitCode;
        }
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "serving member {Name} ({MemberId:x16}): gRPC on {ClientUrls}, HTTP on {MetricsUrls}, data in {DataDir}")]
    private static partial void LogServing(ILogger logger, string name, ulong memberId, string clientUrls, string metricsUrls, string dataDir);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "stopping")]
    private static partial void LogStopping(ILogger logger);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Error, Message = "cannot start: {Problem}")]
    private static partial void LogStartFailed(ILogger logger, string problem);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Error, Message = "the member stopped: {Problem}")]
    private static partial void LogMemberStopped(ILogger logger, string problem);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "the member {MemberId:x16} has been permanently removed from the cluster; exiting. The data dir {DataDir} used by this member must be removed before it can join again")]
    private static partial void LogRemoved(ILogger logger, ulong memberId, string dataDir);

    /// <summary>A host lifetime that leaves signals to System.CommandLine (which cancels the command's token).</summary>
    private sealed class CommandLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
