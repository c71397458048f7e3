namespace Conclave.Raft;

internal enum VoteResult
{
    /// <summary>Not decided yet: enough voters have not answered.</summary>
    Pending,
    Lost,
    Won,
}

/// <summary>Decisions by a simple majority of one voter set.</summary>
internal static class Majority
{
    /// <summary>
    /// The largest index that a majority of voters has acknowledged (acked returns 0 for a voter
    /// not heard from). An empty voter set returns ulong.MaxValue, so that in a joint
    /// configuration an empty half never holds the other back.
    /// </summary>
    public static ulong CommittedIndex(IReadOnlyCollection<ulong> voters, Func<ulong, ulong> acked)
    {
        if (voters.Count == 0)
        {
            return ulong.MaxValue;
        }

        var idx = new ulong[voters.Count];
        var i = 0;
        foreach (var id in voters)
        {
            idx[i++] = acked(id);
        }

        Array.Sort(idx);
        // Ascending: the element at n - (n/2 + 1) is acknowledged by n/2 + 1 voters.
        return idx[voters.Count - ((voters.Count / 2) + 1)];
    }

    /// <summary>votes: true = granted, false = rejected, missing = not answered. An empty set wins.</summary>
    public static VoteResult Vote(IReadOnlyCollection<ulong> voters, IReadOnlyDictionary<ulong, bool> votes)
    {
        if (voters.Count == 0)
        {
            return VoteResult.Won;
        }

        int yes = 0, missing = 0;
        foreach (var id in voters)
        {
            if (!votes.TryGetValue(id, out var v))
            {
                missing++;
            }
            else if (v)
            {
                yes++;
            }
        }

        var q = (voters.Count / 2) + 1;
        if (yes >= q)
        {
            return VoteResult.Won;
        }

        return yes + missing >= q ? VoteResult.Pending : VoteResult.Lost;
    }
}

/// <summary>Decisions in a (possibly) joint configuration: both the incoming and the outgoing majority must agree.</summary>
internal static class Joint
{
    public static ulong CommittedIndex(IReadOnlyCollection<ulong> incoming, IReadOnlyCollection<ulong> outgoing, Func<ulong, ulong> acked) =>
        Math.Min(Majority.CommittedIndex(incoming, acked), Majority.CommittedIndex(outgoing, acked));

    public static VoteResult Vote(IReadOnlyCollection<ulong> incoming, IReadOnlyCollection<ulong> outgoing, IReadOnlyDictionary<ulong, bool> votes)
    {
        var r1 = Majority.Vote(incoming, votes);
        var r2 = Majority.Vote(outgoing, votes);
        if (r1 == r2)
        {
            return r1;
        }

        return r1 == VoteResult.Lost || r2 == VoteResult.Lost ? VoteResult.Lost : VoteResult.Pending;
    }
}
