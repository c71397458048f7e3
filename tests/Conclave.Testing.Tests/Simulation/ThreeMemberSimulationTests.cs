using Conclave.Testing.Simulation;
using Xunit.Abstractions;

namespace Conclave.Testing.Tests.Simulation;

public class ThreeMemberSimulationTests(ITestOutputHelper output)
{
    [Fact]
    public void Seeded_runs_with_faults_keep_raft_safe_and_the_history_linearizable() =>
        SeedSweep.Run(output, firstSeed: 1, seeds: SimulationSizes.ThreeMemberSeeds, new SimulationOptions { Members = 3, Steps = SimulationSizes.Steps });

    [Fact]
    public void Runs_without_faults_answer_every_client_operation()
    {
        for (var seed = 1; seed <= 20; seed++)
        {
            var r = ClusterSimulation.Run(seed, new SimulationOptions { Members = 3, Steps = 300, Faults = false });
            Assert.Equal(0, r.OperationsUnknown);
            Assert.Empty(r.Faults);
            Assert.True(r.OperationsChecked > 20, $"seed {seed}: only {r.OperationsChecked} operations completed in 300 fault-free steps");
            Assert.True(r.CommitIndex > 20, $"seed {seed}: commit index {r.CommitIndex} after 300 fault-free steps");
        }
    }
}
