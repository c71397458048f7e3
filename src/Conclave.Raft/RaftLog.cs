namespace Conclave.Raft;

/// <summary>
/// The log as the core sees it: durable entries in storage followed by <see cref="Unstable"/> ones.
/// Invariant: Applied &lt;= Committed &lt;= LastIndex. Committed entries are handed out for
/// applying only once durable here (at or before the last persisted index).
/// </summary>
internal sealed class RaftLog
{
    private readonly IRaftStorage _storage;
    private readonly Unstable _unstable;

    public RaftLog(IRaftStorage storage)
    {
        _storage = storage;
        var first = storage.FirstIndex();
        _unstable = new Unstable(storage.LastIndex() + 1);
        Committed = first - 1;
        Applied = first - 1;
    }

    public ulong Committed { get; private set; }

    public ulong Applied { get; private set; }

    public Unstable Unstable => _unstable;

    public ulong FirstIndex() => _unstable.MaybeFirstIndex() ?? _storage.FirstIndex();

    public ulong LastIndex() => _unstable.MaybeLastIndex() ?? _storage.LastIndex();

    public ulong LastTerm() => ZeroTermOnError(LastIndex());

    /// <summary>The last index known durable (nothing counts while a snapshot is waiting to be persisted).</summary>
    public ulong LastPersistedIndex() => _unstable.Snapshot is not null ? Applied : _unstable.Offset - 1;

    public bool TryTerm(ulong i, out ulong term)
    {
        term = 0;
        var dummy = FirstIndex() - 1;
        if (i < dummy || i > LastIndex())
        {
            return false;
        }

        if (_unstable.MaybeTerm(i) is { } t)
        {
            term = t;
            return true;
        }

        try
        {
            term = _storage.Term(i);
            return true;
        }
        catch (RaftStorageException)
        {
            return false;
        }
    }

    public ulong ZeroTermOnError(ulong i) => TryTerm(i, out var t) ? t : 0;

    public bool MatchTerm(ulong i, ulong term) => TryTerm(i, out var t) && t == term;

    /// <summary>True when a candidate's last entry (lastIndex, term) is at least as up to date as ours.</summary>
    public bool IsUpToDate(ulong lastIndex, ulong term) =>
        term > LastTerm() || (term == LastTerm() && lastIndex >= LastIndex());

    /// <summary>
    /// A follower's append: when our log matches (index, logTerm), writes ents after it (dropping a
    /// conflicting suffix), advances the commit to min(committed, last new index) and returns that index.
    /// </summary>
    public bool TryAppend(ulong index, ulong logTerm, ulong committed, IReadOnlyList<Entry> ents, out ulong lastNew)
    {
        lastNew = 0;
        if (!MatchTerm(index, logTerm))
        {
            return false;
        }

        lastNew = index + (ulong)ents.Count;
        var conflict = FindConflict(ents);
        if (conflict != 0)
        {
            if (conflict <= Committed)
            {
                throw new InvalidOperationException($"raft: entry {conflict} conflicts with committed entry (committed {Committed})");
            }

            var from = (int)(conflict - (index + 1));
            Append(ents.Skip(from).ToList());
        }

        CommitTo(Math.Min(committed, lastNew));
        return true;
    }

    public ulong Append(IReadOnlyList<Entry> ents)
    {
        if (ents.Count == 0)
        {
            return LastIndex();
        }

        if (ents[0].Index - 1 < Committed)
        {
            throw new InvalidOperationException($"raft: appending after {ents[0].Index - 1} is out of range (committed {Committed})");
        }

        _unstable.TruncateAndAppend(ents);
        return LastIndex();
    }

    /// <summary>The index of the first entry whose term differs from ours, or of the first new entry; 0 when all match.</summary>
    private ulong FindConflict(IReadOnlyList<Entry> ents)
    {
        foreach (var e in ents)
        {
            if (!MatchTerm(e.Index, e.Term))
            {
                return e.Index;
            }
        }

        return 0;
    }

    /// <summary>
    /// The largest index at or below index whose term is at most term, with that term. Used to skip
    /// a whole term of mismatching entries per round trip on a rejected append.
    /// </summary>
    public (ulong Index, ulong Term) FindConflictByTerm(ulong index, ulong term)
    {
        while (true)
        {
            if (!TryTerm(index, out var t))
            {
                return (index, 0);
            }

            if (t <= term || index == 0)
            {
                return (index, t);
            }

            index--;
        }
    }

    public void CommitTo(ulong c)
    {
        if (c > Committed)
        {
            if (c > LastIndex())
            {
                throw new InvalidOperationException($"raft: commit {c} is out of range (last {LastIndex()})");
            }

            Committed = c;
        }
    }

    /// <summary>Commits maxIndex if it is an entry of term (the Figure 8 rule: a leader commits only its own term by counting).</summary>
    public bool MaybeCommit(ulong maxIndex, ulong term)
    {
        if (maxIndex > Committed && ZeroTermOnError(maxIndex) == term)
        {
            CommitTo(maxIndex);
            return true;
        }

        return false;
    }

    public void AppliedTo(ulong i)
    {
        if (i == 0)
        {
            return;
        }

        if (i > Committed || i < Applied)
        {
            throw new InvalidOperationException($"raft: applied {i} is out of range [{Applied}, {Committed}]");
        }

        Applied = i;
    }

    public bool StableTo(ulong i, ulong t) => _unstable.StableTo(i, t);

    public void StableSnapTo(ulong i) => _unstable.StableSnapTo(i);

    public bool HasNextCommittedEntries() => Math.Min(Committed, LastPersistedIndex()) > Applied;

    /// <summary>The next committed, durable entries to apply: at least one, about maxSize bytes.</summary>
    public IReadOnlyList<Entry> NextCommittedEntries(ulong maxSize)
    {
        var hi = Math.Min(Committed, LastPersistedIndex());
        return hi > Applied ? Slice(Applied + 1, hi + 1, maxSize) : [];
    }

    public Snapshot Snapshot() => _unstable.Snapshot ?? _storage.Snapshot();

    public void Restore(Snapshot s)
    {
        Committed = s.Metadata.Index;
        _unstable.Restore(s);
    }

    /// <summary>Marks a persisted snapshot as applied (the state machine was restored from it).</summary>
    public void AppliedSnapshot(ulong index)
    {
        if (index > Applied)
        {
            Applied = index;
        }
    }

    /// <summary>Entries from i on (limited by maxSize); false when some are compacted (send a snapshot instead).</summary>
    public bool TryEntries(ulong i, ulong maxSize, out IReadOnlyList<Entry> ents)
    {
        ents = [];
        if (i > LastIndex())
        {
            return true;
        }

        if (i < FirstIndex())
        {
            return false;
        }

        try
        {
            ents = Slice(i, LastIndex() + 1, maxSize);
            return true;
        }
        catch (RaftStorageException e) when (e.Error == StorageError.Compacted)
        {
            return false;
        }
    }

    /// <summary>Entries [lo, hi) from storage then unstable, at least one and at most about maxSize bytes.</summary>
    public IReadOnlyList<Entry> Slice(ulong lo, ulong hi, ulong maxSize)
    {
        if (lo >= hi)
        {
            return [];
        }

        if (lo < FirstIndex() || hi > LastIndex() + 1)
        {
            throw new RaftStorageException(
                lo < FirstIndex() ? StorageError.Compacted : StorageError.Unavailable,
                $"raft: slice [{lo}, {hi}) out of bounds [{FirstIndex()}, {LastIndex()}]");
        }

        var result = new List<Entry>();
        if (lo < _unstable.Offset)
        {
            var storedHi = Math.Min(hi, _unstable.Offset);
            var stored = _storage.Entries(lo, storedHi, maxSize);
            result.AddRange(stored);
            if ((ulong)stored.Count < storedHi - lo)
            {
                return result;
            }
        }

        if (hi > _unstable.Offset)
        {
            var from = Math.Max(lo, _unstable.Offset);
            result.AddRange(_unstable.Slice(from, hi));
        }

        return result.Count <= 1 ? result : LogSlice.Limit(result, 0, result.Count, maxSize);
    }
}
