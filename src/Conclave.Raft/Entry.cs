namespace Conclave.Raft;

/// <summary>The kind of a log entry. Values are persisted in the WAL: never renumber.</summary>
public enum EntryType : byte
{
    /// <summary>An application command (or an empty entry a new leader appends to commit its term).</summary>
    Normal = 0,

    /// <summary>A membership change; <see cref="Entry.Data"/> holds an encoded configuration change.</summary>
    ConfChange = 1,
}

/// <summary>
/// One entry of the replicated log. <see cref="Index"/> starts at 1; index 0 with term 0 is the
/// empty position before the first entry. <see cref="Data"/> is owned by whoever created the
/// entry and must not be mutated once the entry was handed to the core or to the WAL.
/// Equality compares <see cref="Data"/> by content.
/// </summary>
public readonly record struct Entry(ulong Term, ulong Index, EntryType Type, ReadOnlyMemory<byte> Data)
{
    public Entry(ulong term, ulong index)
        : this(term, index, EntryType.Normal, ReadOnlyMemory<byte>.Empty)
    {
    }

    public bool Equals(Entry other) =>
        Term == other.Term && Index == other.Index && Type == other.Type && Data.Span.SequenceEqual(other.Data.Span);

    public override int GetHashCode() => HashCode.Combine(Term, Index, Type, Data.Length);

    public override string ToString() => $"{Term}/{Index} {Type} ({Data.Length} bytes)";
}
