using Conclave.Testing.Simulation;
using Xunit.Abstractions;

namespace Conclave.Testing.Tests.Simulation;

/// <summary>
/// Each deliberate bug, in the core or in the simulated driver, must be caught by the simulator within a bounded number of
/// seeds, as a safety or linearizability violation (a liveness failure does not count): this shows
/// the checks can fail. The seed and the violation are printed.
/// </summary>
public class DeliberateBugTests(ITestOutputHelper output)
{
    private const int MaxSeeds = 200;

    [Theory]
    [InlineData(SimulatedBug.VoteTwiceInTerm, 3)]
    [InlineData(SimulatedBug.VoteTwiceInTerm, 5)]
    [InlineData(SimulatedBug.CommitOnMinority, 3)]
    [InlineData(SimulatedBug.CommitOnMinority, 5)]
    [InlineData(SimulatedBug.DriverSendsBeforePersist, 3)]
    [InlineData(SimulatedBug.DriverSendsBeforePersist, 5)]
    [InlineData(SimulatedBug.DriverForgetsVote, 3)]
    [InlineData(SimulatedBug.DriverForgetsVote, 5)]
    public void The_simulator_detects_the_bug(SimulatedBug bug, int members)
    {
        // Driver bugs only show when a member crashes right after the faulty step: crash often.
        var driverBug = bug is SimulatedBug.DriverSendsBeforePersist or SimulatedBug.DriverForgetsVote;
        var options = new SimulationOptions { Members = members, Steps = SimulationSizes.Steps, Bug = bug, ReadyCrashRate = driverBug ? 0.02 : null };
        var otherFailures = 0;
        for (var seed = 1; seed <= MaxSeeds; seed++)
        {
            try
            {
                ClusterSimulation.Run(seed, options);
            }
            catch (SimulationFailureException e) when (e.Kind is SimulationFailureKind.Liveness or SimulationFailureKind.Unexpected)
            {
                otherFailures++;
                continue;
            }
            catch (SimulationFailureException e) when (e.Kind is SimulationFailureKind.Safety or SimulationFailureKind.Linearizability)
            {
                output.WriteLine($"{bug} with {members} members detected at seed {seed} ({otherFailures} earlier seeds failed otherwise):");
                output.WriteLine(e.Message);
                output.WriteLine($"reproduce: {SeedSweep.Reproduce(seed, options)}");
                return;
            }
        }

        Assert.Fail($"{bug} with {members} members was not detected as a safety violation in {MaxSeeds} seeds ({otherFailures} failed otherwise)");
    }
}
