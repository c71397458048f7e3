using System.Globalization;
using Conclave.Testing.Linearizability;
using Conclave.Testing.Simulation;
using Xunit.Abstractions;

namespace Conclave.Testing.Tests.Simulation;

/// <summary>Runs a range of seeds, sums what they did, and fails with the first failing seed's message and reproduce command.</summary>
internal static class SeedSweep
{
    public static void Run(ITestOutputHelper output, int firstSeed, int seeds, SimulationOptions options)
    {
        long steps = 0, ops = 0, unknown = 0, undecided = 0;
        var faults = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (var seed = firstSeed; seed < firstSeed + seeds; seed++)
        {
            SimulationResult r;
            try
            {
                r = ClusterSimulation.Run(seed, options);
            }
            catch (SimulationFailureException e)
            {
                Assert.Fail($"{e.Message}\nreproduce: {Reproduce(seed, options)}");
                throw;
            }

            steps += r.Steps;
            ops += r.OperationsChecked;
            unknown += r.OperationsUnknown;
            undecided += r.Linearizability == CheckOutcome.Unknown ? 1 : 0;
            foreach (var (k, v) in r.Faults)
            {
                faults[k] = faults.GetValueOrDefault(k) + v;
            }
        }

        output.WriteLine($"{options.Members} members: {seeds} runs (seeds {firstSeed}..{firstSeed + seeds - 1}), {steps} steps, "
            + $"{faults.Values.Sum()} faults, {ops} operations checked ({unknown} with unknown outcome), {undecided} histories undecided");
        output.WriteLine("faults: " + string.Join(", ", faults.Select(f => $"{f.Key} {f.Value}")));
        Assert.Equal(0, undecided);
        Assert.True(ops > seeds, $"expected more than one checked operation per run, got {ops} in {seeds} runs");
        if (options.Faults)
        {
            Assert.True(faults.Values.Sum() > seeds, $"expected faults to be injected, got {faults.Values.Sum()} in {seeds} runs");
        }
    }

    public static string Reproduce(int seed, SimulationOptions options) =>
        "dotnet run -c Release --project tests/Conclave.Simulator -- --seed " + seed.ToString(CultureInfo.InvariantCulture)
        + $" --members {options.Members} --steps {options.Steps}"
        + (options.Bug != SimulatedBug.None ? $" --bug {options.Bug}" : string.Empty)
        + " --verbose";
}
