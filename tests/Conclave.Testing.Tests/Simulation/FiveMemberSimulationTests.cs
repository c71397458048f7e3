using Conclave.Testing.Simulation;
using Xunit.Abstractions;

namespace Conclave.Testing.Tests.Simulation;

public class FiveMemberSimulationTests(ITestOutputHelper output)
{
    [Fact]
    public void Seeded_runs_with_faults_keep_raft_safe_and_the_history_linearizable() =>
        SeedSweep.Run(output, firstSeed: 100_001, seeds: SimulationSizes.FiveMemberSeeds, new SimulationOptions { Members = 5, Steps = SimulationSizes.Steps });
}
