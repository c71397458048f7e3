using Conclave.Raft;

namespace Conclave.Testing.Simulation;

/// <summary>
/// The Raft safety properties, checked after every step (and at the moments noted):
/// <list type="bullet">
/// <item>Election safety: at most one leader per term, ever.</item>
/// <item>Log matching: an (index, term) pair names one entry, and the same preceding term, in every
///   member's durable log. Checked as entries are persisted; by induction two logs that share an
///   (index, term) are identical up to it.</item>
/// <item>State machine safety: no two members apply different entries at one index. Every applied
///   entry is committed; the first application defines the committed log.</item>
/// <item>Leader completeness: an entry committed in term t is in the log of every leader of a term
///   after t. The commit term of an index is over-approximated by the term of the first member seen
///   with a commit index covering it (that member learned it from a leader of that term or earlier).</item>
/// <item>Durability: after a crash, the durable log up to the durable commit index holds the committed
///   entries, and the durable commit index does not exceed the durable log.</item>
/// </list>
/// </summary>
public sealed partial class ClusterSimulation
{
    private readonly Dictionary<ulong, ulong> _leaderOfTerm = [];
    private readonly Dictionary<(ulong Index, ulong Term), (Entry Entry, ulong PrevTerm)> _persisted = [];
    private readonly Dictionary<ulong, Entry> _committed = [];
    private readonly Dictionary<ulong, ulong> _appliedBy = [];
    private readonly Dictionary<ulong, ulong> _commitTerm = [];
    private readonly HashSet<(ulong Id, ulong Term)> _leadersChecked = [];
    private readonly List<ulong> _newlyCommitted = [];
    private ulong _maxCommitSeen;

    private void CheckSafety()
    {
        var leaders = new List<(SimMember Member, ulong Term)>();
        foreach (var m in _members.Values)
        {
            if (m.Node is not { } node)
            {
                continue;
            }

            var st = node.Status();
            if (st.Role != m.Role || st.Term != m.Term)
            {
                if (st.Role != m.Role)
                {
                    Trace($"member {m.Id} is {st.Role} in term {st.Term}");
                }

                m.Role = st.Role;
                m.Term = st.Term;
            }

            if (st.Commit > _maxCommitSeen)
            {
                if (_options.Trace is not null)
                {
                    var progress = string.Join(' ', st.Progress.OrderBy(p => p.Key).Select(p => $"{p.Key}:{p.Value.Match}"));
                    Trace($"member {m.Id} ({st.Role} term {st.Term}) first to see commit {st.Commit}; {st.ConfState}; match {progress}");
                }

                for (var i = _maxCommitSeen + 1; i <= st.Commit; i++)
                {
                    _commitTerm[i] = st.Term;
                }

                _maxCommitSeen = st.Commit;
            }

            if (st.Role != RaftRole.Leader)
            {
                continue;
            }

            if (_leaderOfTerm.TryGetValue(st.Term, out var other) && other != m.Id)
            {
                Fail($"election safety: members {other} and {m.Id} are both leader of term {st.Term}");
            }

            _leaderOfTerm[st.Term] = m.Id;
            if (!node.HasReady())
            {
                leaders.Add((m, st.Term));
            }
        }

        foreach (var (m, term) in leaders)
        {
            if (_leadersChecked.Add((m.Id, term)))
            {
                foreach (var (index, entry) in _committed)
                {
                    CheckLeaderHas(m, term, index, entry);
                }
            }
        }

        foreach (var index in _newlyCommitted)
        {
            var entry = _committed[index];
            foreach (var (m, term) in leaders)
            {
                CheckLeaderHas(m, term, index, entry);
            }
        }

        _newlyCommitted.Clear();
    }

    /// <summary>Leader completeness for one committed entry, if it was committed before the leader's term.</summary>
    private void CheckLeaderHas(SimMember leader, ulong term, ulong index, Entry entry)
    {
        if (!_commitTerm.TryGetValue(index, out var committedIn) || committedIn >= term)
        {
            return;
        }

        var first = leader.Storage.FirstIndex();
        if (index + 1 < first)
        {
            return; // compacted into the leader's snapshot; the snapshot's own position is checked below
        }

        if (index > leader.Storage.LastIndex() || leader.Storage.Term(index) != entry.Term)
        {
            var has = index > leader.Storage.LastIndex() ? "nothing" : $"term {leader.Storage.Term(index)}";
            Fail($"leader completeness: leader {leader.Id} of term {term} has {has} at index {index}, "
                + $"committed in term {committedIn} with entry {Show(entry)} (applied first by member {_appliedBy[index]})");
        }
    }

    private void CheckLogMatching(SimMember m, IReadOnlyList<Entry> entries)
    {
        var first = m.Storage.FirstIndex();
        foreach (var e in entries)
        {
            if (e.Index < first)
            {
                continue;
            }

            var prevTerm = m.Storage.Term(e.Index - 1);
            if (_persisted.TryGetValue((e.Index, e.Term), out var known))
            {
                if (!known.Entry.Equals(e))
                {
                    Fail($"log matching: member {m.Id} persisted {Show(e)} where another member holds {Show(known.Entry)}");
                }

                if (known.PrevTerm != prevTerm)
                {
                    Fail($"log matching: member {m.Id} persisted {e} after term {prevTerm}; another member holds it after term {known.PrevTerm}");
                }
            }
            else
            {
                _persisted[(e.Index, e.Term)] = (e, prevTerm);
            }
        }
    }

    private void CheckStateMachineSafety(SimMember m, Entry e)
    {
        if (_committed.TryGetValue(e.Index, out var c))
        {
            if (!c.Equals(e))
            {
                Fail($"state machine safety: member {m.Id} applied {Show(e)}, member {_appliedBy[e.Index]} applied {Show(c)}");
            }

            return;
        }

        _committed[e.Index] = e;
        _appliedBy[e.Index] = m.Id;
        _newlyCommitted.Add(e.Index);
    }

    /// <summary>An entry with its command as text (commands are UTF-8 lines), for violation messages.</summary>
    private static string Show(Entry e) =>
        $"{e.Term}/{e.Index} {e.Type} \"{System.Text.Encoding.UTF8.GetString(e.Data.Span).Replace('\n', '|').Replace('\0', '-')}\"";

    private void CheckSnapshot(SimMember m, Snapshot snap)
    {
        var index = snap.Metadata.Index;
        if (_committed.TryGetValue(index, out var c) && c.Term != snap.Metadata.Term)
        {
            Fail($"state machine safety: member {m.Id} was sent snapshot {snap.Metadata.Term}/{index} but committed entry {index} has term {c.Term}");
        }
    }

    private void CheckDurableLog(SimMember m, HardState hs)
    {
        var last = m.Storage.LastIndex();
        if (hs.Commit > last)
        {
            Fail($"durability: member {m.Id} restarts with durable commit {hs.Commit} beyond its durable log (last {last})");
        }

        for (var i = m.Storage.FirstIndex(); i <= hs.Commit; i++)
        {
            if (_committed.TryGetValue(i, out var c) && m.Storage.Term(i) != c.Term)
            {
                Fail($"durability: member {m.Id} restarts with term {m.Storage.Term(i)} at index {i}, below its commit {hs.Commit}; the committed entry has term {c.Term}");
            }
        }
    }
}
