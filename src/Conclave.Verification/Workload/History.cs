using Conclave.Verification.Linearizability;

namespace Conclave.Verification.Workload;

public enum OpOutcome
{
    /// <summary>The server answered; <see cref="RecordedOp.Output"/> holds the answer.</summary>
    Ok,

    /// <summary>Known not to have taken effect (the request never left the client: connection refused).</summary>
    Failed,

    /// <summary>Timed out or lost with the connection: may or may not have taken effect.</summary>
    Unknown,
}

/// <summary>
/// One client operation. Times are <see cref="System.Diagnostics.Stopwatch"/> ticks (monotonic,
/// one clock for every client of a run). Values written are unique per run, so a value names the write.
/// </summary>
public sealed record RecordedOp(
    int ClientId,
    KvInput Input,
    OpOutcome Outcome,
    KvOutput? Output,
    long Call,
    long Return,
    long Revision,
    string? Error)
{
    public bool IsAcknowledgedWrite =>
        Outcome == OpOutcome.Ok && Input.Op switch
        {
            KvOp.Put => true,
            KvOp.CompareAndSwap => Output!.Succeeded,
            _ => false,
        };
}

/// <summary>One watch event: a put of Value (null for a delete) at Revision.</summary>
public sealed record WatchedEvent(long Revision, string Key, bool IsDelete, string? Value);
