using System.Globalization;
using Conclave.Testing.Simulation;
using Conclave.Verification.Linearizability;
using Xunit.Abstractions;

namespace Conclave.Testing.Tests.Simulation;

/// <summary>
/// Runs a range of seeds and sums what they did. Every seed runs even after a failure, so the
/// figures are complete; the test then fails listing each failing seed with the command that reproduces it.
/// </summary>
internal static class SeedSweep
{
    public static void Run(ITestOutputHelper output, int firstSeed, int seeds, SimulationOptions options)
    {
        long steps = 0, ops = 0, unknown = 0, undecided = 0, snapshots = 0, writesInFlight = 0, pipelinedRuns = 0;
        var faults = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var failures = new List<string>();
        for (var seed = firstSeed; seed < firstSeed + seeds; seed++)
        {
            SimulationResult r;
            try
            {
                r = ClusterSimulation.Run(seed, options);
            }
            catch (SimulationFailureException e)
            {
                failures.Add($"{e.Message.Split('\n')[0]}\n  reproduce: {Reproduce(seed, options)}");
                continue;
            }

            steps += r.Steps;
            ops += r.OperationsChecked;
            unknown += r.OperationsUnknown;
            snapshots += r.SnapshotsInstalled;
            writesInFlight += r.WritesInFlight;
            pipelinedRuns += r.WritesInFlight > 0 ? 1 : 0;
            undecided += r.Linearizability == CheckOutcome.Unknown ? 1 : 0;
            foreach (var (k, v) in r.Faults)
            {
                faults[k] = faults.GetValueOrDefault(k) + v;
            }
        }

        output.WriteLine($"{options.Members} members: {seeds} runs ({failures.Count} failed) (seeds {firstSeed}..{firstSeed + seeds - 1}), {steps} steps, "
            + $"{faults.Values.Sum()} faults, {ops} operations checked ({unknown} with unknown outcome), {undecided} histories undecided, {snapshots} snapshots installed by followers, "
            + $"{writesInFlight} Ready writes left in flight while the member went on ({pipelinedRuns} runs with the pipelined driver)");
        output.WriteLine("faults: " + string.Join(", ", faults.Select(f => $"{f.Key} {f.Value}")));
        foreach (var f in failures)
        {
            output.WriteLine(f);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {seeds} seeds failed:\n" + string.Join('\n', failures.Take(10)));
        Assert.Equal(0, undecided);
        Assert.True(ops > seeds, $"expected more than one checked operation per run, got {ops} in {seeds} runs");
        if (options.StepWhilePersisting is null && seeds >= 20)
        {
            // The driver is drawn per seed: both must have run, or the pipelined one is not covered.
            Assert.True(pipelinedRuns > 0 && pipelinedRuns < seeds, $"expected runs with both drivers, got {pipelinedRuns} pipelined of {seeds}");
        }
        if (options.Faults)
        {
            Assert.True(faults.Values.Sum() > seeds, $"expected faults to be injected, got {faults.Values.Sum()} in {seeds} runs");
        }
    }

    public static string Reproduce(int seed, SimulationOptions options) =>
        "dotnet run -c Release --project tests/Conclave.Simulator -- --seed " + seed.ToString(CultureInfo.InvariantCulture)
        + $" --members {options.Members} --steps {options.Steps}"
        + (options.Bug != SimulatedBug.None ? $" --bug {options.Bug}" : string.Empty)
        + (options.ReadyCrashRate is { } rate ? $" --ready-crash-rate {rate.ToString(CultureInfo.InvariantCulture)}" : string.Empty)
        + " --verbose";
}
