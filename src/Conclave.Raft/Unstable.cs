namespace Conclave.Raft;

/// <summary>
/// Entries (and possibly a snapshot) the core holds that the driver has not yet reported durable.
/// <code>
///   storage: ... [offset-1]      unstable: [offset] [offset+1] ... (Entries)
/// </code>
/// With a snapshot, offset = snapshot index + 1 and Entries follow the snapshot.
/// </summary>
internal sealed class Unstable
{
    public Snapshot? Snapshot { get; private set; }

    public List<Entry> Entries { get; private set; } = [];

    public ulong Offset { get; private set; }

    public Unstable(ulong offset) => Offset = offset;

    public ulong? MaybeFirstIndex() => Snapshot is null ? null : Snapshot.Metadata.Index + 1;

    public ulong? MaybeLastIndex()
    {
        if (Entries.Count > 0)
        {
            return Offset + (ulong)Entries.Count - 1;
        }

        return Snapshot?.Metadata.Index;
    }

    public ulong? MaybeTerm(ulong i)
    {
        if (i < Offset)
        {
            return Snapshot is not null && Snapshot.Metadata.Index == i ? Snapshot.Metadata.Term : null;
        }

        var last = MaybeLastIndex();
        if (last is null || i > last.Value)
        {
            return null;
        }

        return Entries[(int)(i - Offset)].Term;
    }

    /// <summary>Entries up to (i, t) are durable. Ignored when the entry at i was since replaced (term differs).</summary>
    public bool StableTo(ulong i, ulong t)
    {
        var gt = MaybeTerm(i);
        if (gt != t || i < Offset)
        {
            return false;
        }

        Entries.RemoveRange(0, (int)(i + 1 - Offset));
        Offset = i + 1;
        return true;
    }

    public void StableSnapTo(ulong i)
    {
        if (Snapshot is not null && Snapshot.Metadata.Index == i)
        {
            Snapshot = null;
        }
    }

    public void Restore(Snapshot s)
    {
        Offset = s.Metadata.Index + 1;
        Entries = [];
        Snapshot = s;
    }

    public void TruncateAndAppend(IReadOnlyList<Entry> ents)
    {
        var after = ents[0].Index;
        if (after == Offset + (ulong)Entries.Count)
        {
            Entries.AddRange(ents);
        }
        else if (after <= Offset)
        {
            // Replaces entries already handed to storage: the driver overwrites that suffix too.
            Offset = after;
            Entries = [.. ents];
        }
        else
        {
            Entries.RemoveRange((int)(after - Offset), Entries.Count - (int)(after - Offset));
            Entries.AddRange(ents);
        }
    }

    public List<Entry> Slice(ulong lo, ulong hi) => Entries.GetRange((int)(lo - Offset), (int)(hi - lo));
}
