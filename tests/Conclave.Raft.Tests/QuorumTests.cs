namespace Conclave.Raft.Tests;

public class QuorumTests
{
    /// <summary>The obvious definition: the largest index that at least a majority has acknowledged.</summary>
    private static ulong NaiveCommitted(ulong[] voters, Dictionary<ulong, ulong> acked)
    {
        if (voters.Length == 0)
        {
            return ulong.MaxValue;
        }

        ulong best = 0;
        foreach (var candidate in voters.Select(v => acked.GetValueOrDefault(v)).Distinct())
        {
            if (voters.Count(v => acked.GetValueOrDefault(v) >= candidate) > voters.Length / 2)
            {
                best = Math.Max(best, candidate);
            }
        }

        return best;
    }

    private static VoteResult NaiveVote(ulong[] voters, Dictionary<ulong, bool> votes)
    {
        if (voters.Length == 0)
        {
            return VoteResult.Won;
        }

        var yes = voters.Count(v => votes.TryGetValue(v, out var x) && x);
        var no = voters.Count(v => votes.TryGetValue(v, out var x) && !x);
        var q = (voters.Length / 2) + 1;
        return yes >= q ? VoteResult.Won : voters.Length - no >= q ? VoteResult.Pending : VoteResult.Lost;
    }

    [Fact]
    public void Majority_and_joint_agree_with_the_naive_model()
    {
        var r = new Random(3);
        for (var i = 0; i < 5000; i++)
        {
            var incoming = Enumerable.Range(1, 7).Where(_ => r.Next(2) == 0).Select(x => (ulong)x).ToArray();
            var outgoing = Enumerable.Range(1, 7).Where(_ => r.Next(3) == 0).Select(x => (ulong)x).ToArray();
            var acked = Enumerable.Range(1, 7).ToDictionary(x => (ulong)x, _ => (ulong)r.Next(10));
            var votes = Enumerable.Range(1, 7).Where(_ => r.Next(3) > 0).ToDictionary(x => (ulong)x, _ => r.Next(2) == 0);

            Assert.Equal(NaiveCommitted(incoming, acked), Majority.CommittedIndex(incoming, id => acked[id]));
            Assert.Equal(
                Math.Min(NaiveCommitted(incoming, acked), NaiveCommitted(outgoing, acked)),
                Joint.CommittedIndex(incoming, outgoing, id => acked[id]));
            Assert.Equal(NaiveVote(incoming, votes), Majority.Vote(incoming, votes));

            var r1 = NaiveVote(incoming, votes);
            var r2 = NaiveVote(outgoing, votes);
            var expected = r1 == VoteResult.Won && r2 == VoteResult.Won ? VoteResult.Won
                : r1 == VoteResult.Lost || r2 == VoteResult.Lost ? VoteResult.Lost
                : VoteResult.Pending;
            Assert.Equal(expected, Joint.Vote(incoming, outgoing, votes));
        }
    }
}
