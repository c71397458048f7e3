using System.Diagnostics;
using System.Globalization;
using Conclave.Testing.Simulation;

namespace Conclave.Simulator;

/// <summary>
/// Soak command for the deterministic cluster simulator:
/// <c>dotnet run -c Release --project tests/Conclave.Simulator -- --seeds 10000 [--start 1] [--members 3|5]
/// [--steps N] [--bug VoteTwiceInTerm|CommitOnMinority] [--jobs N]</c>, or one seed with its event trace:
/// <c>-- --seed 1234 --verbose</c>. Without --members, odd seeds run 3 members and even seeds 5.
/// Exit code 1 when any seed fails; each failure is printed with the command that reproduces it.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Args a;
        try
        {
            a = Args.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"simulator: {e.Message}");
            Console.Error.WriteLine("usage: --seeds N [--start S] [--members 3|5] [--steps N] [--bug VoteTwiceInTerm|CommitOnMinority|DriverSendsBeforePersist|DriverForgetsVote] [--jobs N]");
            Console.Error.WriteLine("       --seed S [--members 3|5] [--steps N] [--bug ...] [--verbose] [--messages]");
            return 2;
        }

        return a.Single is { } seed ? RunOne(a, seed) : RunMany(a);
    }

    private static SimulationOptions OptionsFor(Args a, int seed, Action<string>? trace) => new()
    {
        Members = a.Members ?? (seed % 2 == 0 ? 5 : 3),
        Steps = a.Steps ?? new SimulationOptions().Steps,
        Bug = a.Bug,
        Trace = trace,
        TraceMessages = a.Messages,
        ReadyCrashRate = a.ReadyCrashRate,
    };

    private static int RunOne(Args a, int seed)
    {
        try
        {
            var r = ClusterSimulation.Run(seed, OptionsFor(a, seed, a.Verbose ? Console.WriteLine : null));
            Console.WriteLine($"seed {seed}: ok, {r.Members} members, {r.Steps} steps, {r.FaultCount} faults, "
                + $"{r.OperationsChecked} operations checked ({r.OperationsUnknown} unknown), commit {r.CommitIndex}, "
                + $"{r.SnapshotsInstalled} snapshots installed, linearizability {r.Linearizability}");
            Console.WriteLine("faults: " + string.Join(", ", r.Faults.Select(f => $"{f.Key} {f.Value}")));
            return 0;
        }
        catch (SimulationFailureException e)
        {
            Console.WriteLine($"FAILED {e.Message}");
            return 1;
        }
    }

    private static int RunMany(Args a)
    {
        var stopwatch = Stopwatch.StartNew();
        var faults = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var failures = new SortedDictionary<int, string>();
        long runs = 0, steps = 0, ops = 0, unknownOps = 0, undecided = 0, snapshots = 0;
        var gate = new Lock();
        var progressEvery = Math.Max(1, a.Seeds / 20);
        Parallel.For(
            a.Start,
            a.Start + a.Seeds,
            new ParallelOptions { MaxDegreeOfParallelism = a.Jobs },
            seed =>
            {
                SimulationResult? r = null;
                string? failure = null;
                try
                {
                    r = ClusterSimulation.Run(seed, OptionsFor(a, seed, null));
                }
                catch (SimulationFailureException e)
                {
                    failure = e.Message;
                }

                lock (gate)
                {
                    runs++;
                    if (r is not null)
                    {
                        steps += r.Steps;
                        ops += r.OperationsChecked;
                        unknownOps += r.OperationsUnknown;
                        snapshots += r.SnapshotsInstalled;
                        undecided += r.Linearizability == Verification.Linearizability.CheckOutcome.Unknown ? 1 : 0;
                        foreach (var (k, v) in r.Faults)
                        {
                            faults[k] = faults.GetValueOrDefault(k) + v;
                        }
                    }
                    else
                    {
                        failures[seed] = failure!;
                        Console.WriteLine($"FAILED {failure}");
                        Console.WriteLine($"  reproduce: {Reproduce(a, seed)}");
                    }

                    if (runs % progressEvery == 0)
                    {
                        Console.WriteLine($"{runs}/{a.Seeds} runs, {failures.Count} failed, {stopwatch.Elapsed.TotalSeconds:F0}s");
                    }
                }
            });

        Console.WriteLine($"runs {runs}, failed {failures.Count}, steps {steps}, operations checked {ops} ({unknownOps} with unknown outcome), "
            + $"histories undecided {undecided}, snapshots installed {snapshots}, {stopwatch.Elapsed.TotalSeconds:F1}s");
        Console.WriteLine($"faults {faults.Values.Sum()}: " + string.Join(", ", faults.Select(f => $"{f.Key} {f.Value}")));
        foreach (var (seed, failure) in failures.Take(20))
        {
            Console.WriteLine($"failing seed {seed}: {Reproduce(a, seed)}");
            Console.WriteLine($"  {failure.Split('\n')[0]}");
        }

        return failures.Count == 0 ? 0 : 1;
    }

    private static string Reproduce(Args a, int seed) =>
        "dotnet run -c Release --project tests/Conclave.Simulator -- --seed "
        + seed.ToString(CultureInfo.InvariantCulture)
        + (a.Members is { } m ? $" --members {m}" : string.Empty)
        + (a.Steps is { } s ? $" --steps {s}" : string.Empty)
        + (a.Bug != SimulatedBug.None ? $" --bug {a.Bug}" : string.Empty)
        + (a.ReadyCrashRate is { } rate ? $" --ready-crash-rate {rate.ToString(CultureInfo.InvariantCulture)}" : string.Empty)
        + " --verbose";

    private sealed record Args(int Seeds, int Start, int? Single, int? Members, int? Steps, SimulatedBug Bug, bool Verbose, int Jobs, bool Messages = false, double? ReadyCrashRate = null)
    {
        public static Args Parse(string[] args)
        {
            var a = new Args(100, 1, null, null, null, SimulatedBug.None, false, Environment.ProcessorCount);
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int NextInt()
                {
                    var s = Next();
                    return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
                        ? v
                        : throw new ArgumentException($"{args[i - 1]}: '{s}' is not a non-negative number");
                }

                a = args[i] switch
                {
                    "--seeds" => a with { Seeds = NextInt() },
                    "--start" => a with { Start = NextInt() },
                    "--seed" => a with { Single = NextInt() },
                    "--members" => a with { Members = NextInt() is var m and (3 or 5) ? m : throw new ArgumentException("--members must be 3 or 5") },
                    "--steps" => a with { Steps = NextInt() },
                    "--jobs" => a with { Jobs = Math.Max(1, NextInt()) },
                    "--bug" => a with { Bug = Enum.TryParse<SimulatedBug>(Next(), ignoreCase: true, out var b) ? b : throw new ArgumentException("--bug must be one of " + string.Join(", ", Enum.GetNames<SimulatedBug>().Skip(1))) },
                    "--verbose" => a with { Verbose = true },
                    "--ready-crash-rate" => a with { ReadyCrashRate = double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r is >= 0 and <= 1 ? r : throw new ArgumentException("--ready-crash-rate must be a probability") },
                    "--messages" => a with { Verbose = true, Messages = true },
                    _ => throw new ArgumentException($"unknown argument {args[i]}"),
                };
            }

            return a;
        }
    }
}
