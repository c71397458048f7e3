namespace Conclave.Testing.Simulation;

/// <summary>A deliberate bug switched on in every simulated member, to show the checks catch it.</summary>
public enum SimulatedBug
{
    None,

    /// <summary>In the core (RaftBugs): a member grants a second vote in the same term.</summary>
    VoteTwiceInTerm,

    /// <summary>In the core (RaftBugs): the leader commits what a single voter acknowledged.</summary>
    CommitOnMinority,

    /// <summary>In the simulated driver: MessagesAfterPersist (acknowledgements, votes) go out before the Ready is persisted.</summary>
    DriverSendsBeforePersist,

    /// <summary>In the simulated driver: the vote of the hard state is not persisted (term and commit are).</summary>
    DriverForgetsVote,
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

    /// <summary>
    /// Chance, per Ready handled, that the member crashes at one of the three points of the driver
    /// loop. null = drawn per run from the seed: 0.0005, 0.002 or 0.01 (a Ready is handled most
    /// steps by most members, so 0.01 means a crash inside the driver every few dozen steps).
    /// </summary>
    public double? ReadyCrashRate { get; init; }

    /// <summary>
    /// The driver keeps a Ready's write in flight for 1–3 steps (half of the Readys that must sync)
    /// while the member goes on stepping messages and requests and sends <see cref="RawNode.TakeMessages"/>
    /// at once — the member loop's behaviour. null = drawn per run from the seed (half the runs).
    /// </summary>
    public bool? StepWhilePersisting { get; init; }

    /// <summary>Receives the event trace (faults, leader changes, client operations) when set.</summary>
    public Action<string>? Trace { get; init; }

    /// <summary>Also trace every message delivery (with <see cref="Trace"/> set): long, for debugging one seed.</summary>
    public bool TraceMessages { get; init; }
}
