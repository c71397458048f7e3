using Conclave.Testing.Simulation;
using Xunit.Abstractions;

namespace Conclave.Testing.Tests.Simulation;

/// <summary>
/// Each deliberate bug in the core must be caught by the simulator within a bounded number of
/// seeds: this shows the checks can fail. The seed and the violation are printed.
/// </summary>
public class DeliberateBugTests(ITestOutputHelper output)
{
    private const int MaxSeeds = 200;

    [Theory]
    [InlineData(SimulatedBug.VoteTwiceInTerm, 3)]
    [InlineData(SimulatedBug.VoteTwiceInTerm, 5)]
    [InlineData(SimulatedBug.CommitOnMinority, 3)]
    [InlineData(SimulatedBug.CommitOnMinority, 5)]
    public void The_simulator_detects_the_bug(SimulatedBug bug, int members)
    {
        var options = new SimulationOptions { Members = members, Steps = SimulationSizes.Steps, Bug = bug };
        for (var seed = 1; seed <= MaxSeeds; seed++)
        {
            try
            {
                ClusterSimulation.Run(seed, options);
            }
            catch (SimulationFailureException e)
            {
                output.WriteLine($"{bug} with {members} members detected at seed {seed} after {seed - 1} passing seeds:");
                output.WriteLine(e.Message);
                output.WriteLine($"reproduce: {SeedSweep.Reproduce(seed, options)}");
                return;
            }
        }

        Assert.Fail($"{bug} with {members} members was not detected in {MaxSeeds} seeds");
    }
}
