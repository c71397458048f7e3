using System.CommandLine;
using Conclave.Bench.Workloads;
using Google.Protobuf;

namespace Conclave.Bench;

/// <summary>
/// `conclave bench &lt;workload&gt; [options]`: an etcd v3 load generator. The options of
/// `bench` itself (endpoints, clients, bounds, output) apply to every workload; each workload
/// subcommand adds its own. Exit codes: 0 the run completed (errors, if any, are in the
/// report), 1 an endpoint did not answer or setup failed, 2 bad options, 130 Ctrl-C (the
/// partial report is still printed).
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var bench = new Command("bench", "Load an etcd v3 endpoint (Conclave or etcd) and report throughput and latency percentiles.");
        foreach (var option in common.All)
        {
            bench.Options.Add(option);
        }

        var keys = new KeyOptions();
        bench.Subcommands.Add(Workload("put", "Put values to keys of a key space.", common, keys.All,
            r => new PutWorkload(keys.Read(r), r.GetValue(keys.ValueSize), common.Seed(r))));

        var key = new Option<string>("--key") { Description = "The key to read (default: the --key-prefix of the write workloads).", DefaultValueFactory = _ => KeyOptions.DefaultPrefix };
        var prefix = new Option<bool>("--prefix") { Description = "Read every key that starts with --key." };
        var consistency = Consistency();
        bench.Subcommands.Add(Workload("range", "Range over one key or a prefix.", common, [key, prefix, consistency],
            r => new RangeWorkload(ByteString.CopyFromUtf8(r.GetValue(key)!), r.GetValue(prefix), r.GetValue(consistency) == "s")));

        var txnKeys = new KeyOptions();
        var txnOps = new Option<int>("--txn-ops") { Description = "Puts per transaction (distinct consecutive keys).", DefaultValueFactory = _ => 1 };
        bench.Subcommands.Add(Workload("txn-put", "Transactions whose success branch puts --txn-ops keys.", common, [.. txnKeys.All, txnOps],
            r => new TxnPutWorkload(txnKeys.Read(r), r.GetValue(txnKeys.ValueSize), r.GetValue(txnOps), common.Seed(r))));

        var watchKeys = new KeyOptions();
        var watchers = new Option<int>("--watchers") { Description = "Watchers, all watching the whole --key-prefix.", DefaultValueFactory = _ => 10 };
        var streams = new Option<int>("--streams") { Description = "Watch streams the watchers are spread over.", DefaultValueFactory = _ => 1 };
        var putRate = new Option<double>("--put-rate") { Description = "Puts per second (the workload's --rate).", DefaultValueFactory = _ => 100 };
        var watch = Workload("watch", "Event latency: from a put's send time to each watcher's receipt of its event.", common, [.. watchKeys.All, watchers, streams, putRate],
            r => new WatchWorkload(watchKeys.Read(r), r.GetValue(watchKeys.ValueSize), r.GetValue(watchers), r.GetValue(streams), common.Seed(r)),
            (r, s) => s with { Rate = Positive(r.GetValue(putRate), "--put-rate") });
        bench.Subcommands.Add(watch);

        var leaseTtl = LeaseTtl();
        bench.Subcommands.Add(Workload("lease-keepalive", "Keep-alives on one lease per client, over one stream per client.", common, [leaseTtl],
            r => new LeaseKeepAliveWorkload(r.GetValue(leaseTtl))));

        var lockName = new Option<string>("--lock-name") { Description = "The mutex every client contends for.", DefaultValueFactory = _ => KeyOptions.DefaultPrefix + "lock" };
        var lockTtl = LeaseTtl();
        bench.Subcommands.Add(Workload("lock", "Lock then Unlock one mutex (v3lock), all clients contending.", common, [lockName, lockTtl],
            r => new LockWorkload(ByteString.CopyFromUtf8(r.GetValue(lockName)!), r.GetValue(lockTtl))));

        var mixedKeys = new KeyOptions();
        var readRatio = new Option<double>("--read-ratio") { Description = "Fraction of operations that are reads (0..1).", DefaultValueFactory = _ => 0.9 };
        var mixedConsistency = Consistency();
        bench.Subcommands.Add(Workload("mixed", "Reads and puts over one key space, reported separately.", common, [.. mixedKeys.All, readRatio, mixedConsistency],
            r =>
            {
                var ratio = r.GetValue(readRatio);
                if (ratio is < 0 or > 1)
                {
                    throw new FormatException($"--read-ratio {ratio} is not between 0 and 1");
                }
                return new MixedWorkload(mixedKeys.Read(r), r.GetValue(mixedKeys.ValueSize), ratio, r.GetValue(mixedConsistency) == "s", common.Seed(r));
            }));
        return bench;
    }

    private static Command Workload(
        string name, string description, CommonOptions common, IEnumerable<Option> options,
        Func<ParseResult, IWorkload> workload, Func<ParseResult, BenchSettings, BenchSettings>? adjust = null)
    {
        var command = new Command(name, description);
        foreach (var option in options)
        {
            command.Options.Add(option);
        }
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            BenchSettings settings;
            IWorkload chosen;
            try
            {
                settings = common.Read(parseResult);
                if (adjust is not null)
                {
                    settings = adjust(parseResult, settings);
                }
                chosen = workload(parseResult);
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                await error.WriteLineAsync($"bench {name}: {e.Message}");
                return 2;
            }

            var runner = new BenchRunner(settings, chosen);
            BenchReport report;
            try
            {
                report = await BenchProgress.RunAsync(runner, settings, name, cancellationToken);
            }
            catch (BenchSetupException e)
            {
                await error.WriteLineAsync(e.Message);
                return 1;
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or Grpc.Core.RpcException)
            {
                await error.WriteLineAsync($"bench {name}: interrupted before the load started");
                return 130;
            }
            ReportWriter.Write(report, settings.Output, output);
            return report.Interrupted ? 130 : 0;
        });
        return command;
    }

    private static Option<string> Consistency()
    {
        var option = new Option<string>("--consistency")
        {
            Description = "l: linearizable reads, s: serializable reads.",
            DefaultValueFactory = _ => "l",
        };
        option.AcceptOnlyFromAmong("l", "s");
        return option;
    }

    private static Option<long> LeaseTtl() => new("--lease-ttl")
    {
        Description = "TTL in seconds of the lease each client holds.",
        DefaultValueFactory = _ => 60,
    };

    private static double Positive(double value, string option) =>
        value > 0 ? value : throw new FormatException($"{option} must be positive, got {value}");

    /// <summary>The options of `bench` itself, inherited by every workload.</summary>
    private sealed class CommonOptions
    {
        public Option<string> Endpoints { get; } = new("--endpoints") { Description = "Comma-separated host:port of the members.", DefaultValueFactory = _ => "127.0.0.1:2379", Recursive = true };

        public Option<int> Clients { get; } = new("--clients") { Description = "Concurrent clients, one operation in flight each.", DefaultValueFactory = _ => 1, Recursive = true };

        public Option<int> Conns { get; } = new("--conns") { Description = "gRPC connections the clients are spread over.", DefaultValueFactory = _ => 1, Recursive = true };

        public Option<long?> Total { get; } = new("--total") { Description = $"Operations to issue (default {BenchSettings.DefaultTotal} unless --duration is given).", Recursive = true };

        public Option<string?> Duration { get; } = new("--duration") { Description = "Run time instead of --total, e.g. 10s, 2m.", Recursive = true };

        public Option<double?> Rate { get; } = new("--rate") { Description = "Operations started per second over all clients (default: unlimited).", Recursive = true };

        public Option<string> Output { get; } = CreateOutput();

        public Option<int> SeedOption { get; } = new("--seed") { Description = "Seed of every random choice (keys, values, read/write mix).", DefaultValueFactory = _ => 1, Recursive = true };

        public Option<bool> NoProgress { get; } = new("--no-progress") { Description = "No progress bar (there is none anyway when stderr is not a terminal).", Recursive = true };

        public IEnumerable<Option> All => [Endpoints, Clients, Conns, Total, Duration, Rate, Output, SeedOption, NoProgress];

        public int Seed(ParseResult result) => result.GetValue(SeedOption);

        public BenchSettings Read(ParseResult result)
        {
            var total = result.GetValue(Total);
            var durationText = result.GetValue(Duration);
            if (total is not null && durationText is not null)
            {
                throw new FormatException("give --total or --duration, not both");
            }
            if (total is <= 0)
            {
                throw new FormatException($"--total must be positive, got {total}");
            }
            var clients = result.GetValue(Clients);
            var conns = result.GetValue(Conns);
            if (clients < 1 || conns < 1)
            {
                throw new FormatException("--clients and --conns must be at least 1");
            }
            var rate = result.GetValue(Rate);
            return new BenchSettings
            {
                Endpoints = BenchSettings.ParseEndpoints(result.GetValue(Endpoints)!),
                Clients = clients,
                Conns = conns,
                Total = durationText is null ? total ?? BenchSettings.DefaultTotal : null,
                Duration = durationText is null ? null : BenchSettings.ParseDuration(durationText),
                Rate = rate is null ? null : Positive(rate.Value, "--rate"),
                Seed = result.GetValue(SeedOption),
                Output = result.GetValue(Output) == "json" ? BenchOutput.Json : BenchOutput.Table,
                Progress = !result.GetValue(NoProgress),
            };
        }

        private static Option<string> CreateOutput()
        {
            var option = new Option<string>("--output", "-o") { Description = "table, or json for scripts.", DefaultValueFactory = _ => "table", Recursive = true };
            option.AcceptOnlyFromAmong("table", "json");
            return option;
        }
    }

    /// <summary>The key space options of the workloads that write (a fresh set per subcommand).</summary>
    private sealed class KeyOptions
    {
        public const string DefaultPrefix = "bench/";

        public Option<string> Prefix { get; } = new("--key-prefix") { Description = "Every key written starts with this.", DefaultValueFactory = _ => DefaultPrefix };

        public Option<int> KeySize { get; } = new("--key-size") { Description = "Key length in bytes, prefix included (the rest is the zero-padded key number).", DefaultValueFactory = _ => 16 };

        public Option<int> ValueSize { get; } = new("--val-size") { Description = "Value length in bytes.", DefaultValueFactory = _ => 8 };

        public Option<long> KeySpaceSize { get; } = new("--key-space-size") { Description = "Number of distinct keys.", DefaultValueFactory = _ => 1 };

        public Option<bool> Sequential { get; } = new("--sequential-keys") { Description = "Operation n writes key n mod key-space-size instead of a random key." };

        public IEnumerable<Option> All => [Prefix, KeySize, ValueSize, KeySpaceSize, Sequential];

        public KeySpace Read(ParseResult result)
        {
            if (result.GetValue(ValueSize) < 0)
            {
                throw new FormatException("--val-size must not be negative");
            }
            if (result.GetValue(KeySpaceSize) < 1)
            {
                throw new FormatException("--key-space-size must be at least 1");
            }
            return new KeySpace(result.GetValue(Prefix)!, result.GetValue(KeySize), result.GetValue(KeySpaceSize), result.GetValue(Sequential));
        }
    }
}
