using Conclave.Testing.Linearizability;

namespace Conclave.Testing.Simulation;

/// <summary>What one run did: for reports and totals.</summary>
public sealed record SimulationResult(
    int Seed,
    int Members,
    long Steps,
    IReadOnlyDictionary<string, long> Faults,
    int OperationsChecked,
    int OperationsUnknown,
    ulong CommitIndex,
    long SnapshotsInstalled,
    CheckOutcome Linearizability)
{
    public long FaultCount => Faults.Values.Sum();
}

/// <summary>A safety or liveness property failed. The message names the seed and the step.</summary>
public sealed class SimulationFailureException(int seed, long step, string message)
    : Exception($"simulation: seed {seed} step {step}: {message}")
{
    public int Seed { get; } = seed;

    public long Step { get; } = step;

    public string Violation { get; } = message;
}
