using Conclave.Testing.Simulation;

namespace Conclave.Testing.Tests.Simulation;

public class DeterminismTests
{
    [Theory]
    [InlineData(7, 3)]
    [InlineData(8, 5)]
    public void The_same_seed_replays_the_same_run(int seed, int members)
    {
        var first = new List<string>();
        var second = new List<string>();
        var a = ClusterSimulation.Run(seed, new SimulationOptions { Members = members, Steps = 300, Trace = first.Add });
        var b = ClusterSimulation.Run(seed, new SimulationOptions { Members = members, Steps = 300, Trace = second.Add });
        Assert.Equal(first, second);
        Assert.Equal(a.Steps, b.Steps);
        Assert.Equal(a.CommitIndex, b.CommitIndex);
        Assert.Equal(a.Faults, b.Faults);
        Assert.True(first.Count > 50, $"expected a trace of the run, got {first.Count} lines");
    }

    [Fact]
    public void Different_seeds_make_different_runs()
    {
        var first = new List<string>();
        var second = new List<string>();
        ClusterSimulation.Run(1, new SimulationOptions { Steps = 200, Trace = first.Add });
        ClusterSimulation.Run(2, new SimulationOptions { Steps = 200, Trace = second.Add });
        Assert.NotEqual(first, second);
    }
}
