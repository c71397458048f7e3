using Conclave.Raft;

namespace Conclave.Testing.Simulation;

/// <summary>
/// One simulated member. <see cref="Storage"/> is its durable state and survives a crash;
/// everything else (the core, the state machine, the applied index, reads in progress) is
/// volatile and rebuilt on restart from the storage's snapshot plus the committed entries the
/// core hands out again.
/// </summary>
internal sealed class SimMember(ulong id)
{
    public ulong Id { get; } = id;

    public MemoryStorage Storage { get; } = new();

    /// <summary>null while crashed or after removal.</summary>
    public RawNode? Node { get; set; }

    public KvStateMachine Sm { get; set; } = new();

    public ulong Applied { get; set; }

    /// <summary>The membership as of <see cref="Applied"/> (snapshot, then applied conf changes).</summary>
    public ConfState ConfState { get; set; } = ConfState.Empty;

    /// <summary>Answered ReadIndex requests waiting for Applied to reach their index: context → read index.</summary>
    public Dictionary<long, ulong> ReadStates { get; } = [];

    /// <summary>A Ready whose write is still in flight (pipelined driver): persisted and advanced at <see cref="WriteDoneAt"/>.</summary>
    public Ready? Writing { get; set; }

    public long WriteDoneAt { get; set; }

    /// <summary>Removed from the configuration: stopped for good.</summary>
    public bool Removed { get; set; }

    public bool Alive => Node is not null;

    /// <summary>Step at which a crashed member restarts.</summary>
    public long RestartAt { get; set; }

    public RaftRole Role { get; set; }

    public ulong Term { get; set; }
}
