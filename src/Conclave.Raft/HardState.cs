namespace Conclave.Raft;

/// <summary>
/// What a member must persist before it sends any message that depends on it: its current
/// term, the candidate it voted for in that term (0 = none) and the highest index it knows to
/// be committed. Persisted with (and never ahead of) the entries of the same Ready.
/// </summary>
public readonly record struct HardState(ulong Term, ulong Vote, ulong Commit)
{
    public static HardState Empty => default;

    public bool IsEmpty => Term == 0 && Vote == 0 && Commit == 0;
}
