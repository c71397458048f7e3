namespace Conclave.Raft;

/// <summary>
/// The membership a snapshot or an applied configuration change leaves the cluster in.
/// During joint consensus <see cref="VotersOutgoing"/> holds the old voter set and both
/// majorities are needed; outside it, it is empty. <see cref="LearnersNext"/> holds voters of
/// the outgoing configuration that become learners when the joint configuration is left.
/// Member ids are never 0.
/// </summary>
public sealed record ConfState
{
    public static ConfState Empty { get; } = new();

    public IReadOnlyList<ulong> Voters { get; init; } = [];

    public IReadOnlyList<ulong> Learners { get; init; } = [];

    public IReadOnlyList<ulong> VotersOutgoing { get; init; } = [];

    public IReadOnlyList<ulong> LearnersNext { get; init; } = [];

    /// <summary>When true the leader leaves the joint configuration by itself once it is committed.</summary>
    public bool AutoLeave { get; init; }

    public bool Equals(ConfState? other) =>
        other is not null
        && Voters.SequenceEqual(other.Voters)
        && Learners.SequenceEqual(other.Learners)
        && VotersOutgoing.SequenceEqual(other.VotersOutgoing)
        && LearnersNext.SequenceEqual(other.LearnersNext)
        && AutoLeave == other.AutoLeave;

    public override int GetHashCode() => HashCode.Combine(Voters.Count, Learners.Count, VotersOutgoing.Count, AutoLeave);

    public override string ToString() =>
        $"voters=({string.Join(' ', Voters)}) learners=({string.Join(' ', Learners)})"
        + (VotersOutgoing.Count > 0 ? $" outgoing=({string.Join(' ', VotersOutgoing)})" : string.Empty)
        + (LearnersNext.Count > 0 ? $" learners_next=({string.Join(' ', LearnersNext)})" : string.Empty)
        + (AutoLeave ? " autoleave" : string.Empty);
}
