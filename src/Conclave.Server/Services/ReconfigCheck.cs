using Conclave.Server.Api;

namespace Conclave.Server.Services;

/// <summary>
/// One voting member as the leader sees it when it checks a membership change. <paramref name="Started"/>:
/// it has published its name through the log (etcd's Member.IsStarted). <paramref name="Active"/>: the
/// leader heard from it within the last election timeout (raft Progress.RecentActive; the leader itself
/// is always active). etcd asks its transport instead (connected for the last 5 s).
/// </summary>
internal readonly record struct VoterState(ulong Id, bool Started, bool Active)
{
    public override string ToString() => $"{Id:x16}({(Started ? "started" : "unstarted")},{(Active ? "active" : "inactive")})";
}

/// <summary>
/// etcd's --strict-reconfig-check (on by default): a membership change that would leave the cluster
/// without a quorum of started, or of active, voters is refused before it reaches the log.
/// The rules and their errors are etcd's (server/etcdserver/server.go mayAddMember, mayRemoveMember,
/// mayPromoteMember; server/etcdserver/api/membership/cluster.go IsReadyTo*): started members short of a
/// quorum → NotEnoughStartedMembers; active members short of a quorum → Unhealthy.
/// </summary>
internal static class ReconfigCheck
{
    /// <summary>Learners a cluster may have (etcd's --max-learners default).</summary>
    public const int MaxLearners = 1;

    public static int Quorum(int voters) => (voters / 2) + 1;

    /// <summary>
    /// Adding a member to <paramref name="voters"/>. A voter needs a quorum of started voters in the new
    /// configuration (except when a one-member cluster grows to two, etcd's restore path); any add, learner
    /// too, needs the active voters to be a quorum of the configuration with one more voter (the new member
    /// counts as down), except on a one-member cluster.
    /// </summary>
    public static ServerStatus MayAdd(IReadOnlyList<VoterState> voters, bool isLearner)
    {
        if (!isLearner)
        {
            var members = voters.Count + 1;
            var started = voters.Count(v => v.Started);
            if (!(started == 1 && members == 2) && started < Quorum(members))
            {
                return ServerStatus.NotEnoughStartedMembers;
            }
        }
        if (voters.Count > 1 && voters.Count(v => v.Active) < Quorum(voters.Count + 1))
        {
            return ServerStatus.Unhealthy;
        }
        return ServerStatus.Ok;
    }

    /// <summary>
    /// Removing <paramref name="id"/> (a learner is always allowed). The remaining voters need a quorum of
    /// started ones; a voter that is down (not active, and not the leader itself) may then go; otherwise
    /// the active voters but the removed one must be a quorum of the remaining configuration.
    /// </summary>
    public static ServerStatus MayRemove(IReadOnlyList<VoterState> voters, ulong id, bool isLearner, ulong self)
    {
        if (isLearner)
        {
            return ServerStatus.Ok;
        }
        var remaining = voters.Where(v => v.Id != id).ToList();
        if (remaining.Count(v => v.Started) < Quorum(remaining.Count))
        {
            return ServerStatus.NotEnoughStartedMembers;
        }
        var target = voters.FirstOrDefault(v => v.Id == id);
        if (id != self && !target.Active)
        {
            return ServerStatus.Ok;
        }
        if (voters.Count(v => v.Active) - 1 < Quorum(voters.Count - 1))
        {
            return ServerStatus.Unhealthy;
        }
        return ServerStatus.Ok;
    }

    /// <summary>Promoting a learner: the learner counts as started, and the started voters with it must be a quorum of the new configuration.</summary>
    public static ServerStatus MayPromote(IReadOnlyList<VoterState> voters) =>
        voters.Count(v => v.Started) + 1 < Quorum(voters.Count + 1) ? ServerStatus.NotEnoughStartedMembers : ServerStatus.Ok;
}
