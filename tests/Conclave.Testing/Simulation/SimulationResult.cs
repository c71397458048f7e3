using Conclave.Verification.Linearizability;

namespace Conclave.Testing.Simulation;

/// <summary>
/// What one run did: for reports and totals. <see cref="WritesInFlight"/>: Readys whose write the
/// pipelined driver left in flight while the member went on (0 with the sequential driver).
/// </summary>
public sealed record SimulationResult(
    int Seed,
    int Members,
    long Steps,
    IReadOnlyDictionary<string, long> Faults,
    int OperationsChecked,
    int OperationsUnknown,
    ulong CommitIndex,
    long SnapshotsInstalled,
    CheckOutcome Linearizability,
    long WritesInFlight)
{
    public long FaultCount => Faults.Values.Sum();
}

public enum SimulationFailureKind
{
    /// <summary>A Raft safety property or the final agreement of the members failed.</summary>
    Safety,

    /// <summary>The client history has no linearization.</summary>
    Linearizability,

    /// <summary>The healed cluster did not converge in time.</summary>
    Liveness,

    /// <summary>The core or the driver threw (a core assertion, a storage error).</summary>
    Unexpected,
}

/// <summary>A safety or liveness property failed. The message names the seed and the step.</summary>
public sealed class SimulationFailureException(int seed, long step, SimulationFailureKind kind, string message)
    : Exception($"simulation: seed {seed} step {step}: {message}")
{
    public int Seed { get; } = seed;

    public SimulationFailureKind Kind { get; } = kind;

    public long Step { get; } = step;

    public string Violation { get; } = message;
}
