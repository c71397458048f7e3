namespace Conclave.Testing.Tests.Simulation;

/// <summary>
/// How much the default test run simulates: at least 1,000 seeded runs with faults in total,
/// sized to keep the project's tests within a few minutes on two cores. Longer soaks: tests/Conclave.Simulator.
/// </summary>
internal static class SimulationSizes
{
    public const int ThreeMemberSeeds = 700;
    public const int FiveMemberSeeds = 500;
    public const int Steps = 500;
}
