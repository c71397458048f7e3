namespace Conclave.Testing.Simulation;

/// <summary>A deliberate bug switched on in every simulated core, to show the checks catch it.</summary>
public enum SimulatedBug
{
    None,
    VoteTwiceInTerm,
    CommitOnMinority,
}

/// <summary>
/// Knobs of one simulated run. Everything random is drawn from the run's seed, so (seed, options)
/// fully determines the run. Times are in ticks; every member ticks once per step.
/// </summary>
public sealed record SimulationOptions
{
    /// <summary>Initial voters (3 or 5). Members added later get fresh ids after these.</summary>
    public int Members { get; init; } = 3;

    /// <summary>Steps with faults and client load; followed by a healed phase of at most <see cref="SettleSteps"/>.</summary>
    public int Steps { get; init; } = 600;

    /// <summary>Steps allowed after healing for the cluster to converge and the clients to finish.</summary>
    public int SettleSteps { get; init; } = 2000;

    public int Clients { get; init; } = 3;

    public int Keys { get; init; } = 3;

    /// <summary>Ticks of silence before a follower campaigns (randomized up to twice this by the core).</summary>
    public int ElectionTick { get; init; } = 10;

    /// <summary>When false the run has client load only: no network faults, crashes, partitions or changes.</summary>
    public bool Faults { get; init; } = true;

    public SimulatedBug Bug { get; init; }

    /// <summary>Receives the event trace (faults, leader changes, client operations) when set.</summary>
    public Action<string>? Trace { get; init; }

    /// <summary>Also trace every message delivery (with <see cref="Trace"/> set): long, for debugging one seed.</summary>
    public bool TraceMessages { get; init; }
}
