using Conclave.Raft;
using Conclave.Server.Api;
using Conclave.Server.StateMachine;

namespace Conclave.Server.Services;

/// <summary>
/// <see cref="IClusterApi"/> on one member: membership changes are configuration changes through
/// the log, one at a time, the new <see cref="StateMachine.Member"/> in the change's context.
/// Promotion needs the leader's view of the learner's progress: a follower forwards it to the
/// leader as a non-raft frame.
/// </summary>
internal sealed class ClusterService(ConclaveMember member) : IClusterApi
{
    /// <summary>A learner may be promoted when its match index is at least this fraction of the leader's (etcd uses 90%).</summary>
    private const double PromoteReadyFraction = 0.9;

    public async Task<ServerResult<IReadOnlyList<StateMachine.Member>>> MemberListAsync(bool linearizable, CancellationToken ct)
    {
        if (linearizable)
        {
            var status = await member.ReadIndexAsync(ct);
            if (status != ServerStatus.Ok)
            {
                return new(status, member.Header(), null);
            }
        }
        return new(ServerStatus.Ok, member.Header(), Members());
    }

    public async Task<ServerResult<StateMachine.Member>> MemberAddAsync(IReadOnlyList<string> peerUrls, bool isLearner, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(peerUrls);
        if (peerUrls.Count == 0)
        {
            return new(ServerStatus.InvalidArgument, member.Header(), null);
        }
        var id = MemberIdentity.MemberId(peerUrls, member.ClusterToken);
        var added = new StateMachine.Member { Id = id, PeerUrls = peerUrls.ToList(), IsLearner = isLearner };
        var status = CheckAdd(member.StateMachine.Members, added);
        if (status == ServerStatus.Ok)
        {
            status = await ChangeThroughLeaderAsync(PeerFrames.ChangeAdd, added, ct);
        }
        return new(status, member.Header(), status == ServerStatus.Ok ? added : null);
    }

    public async Task<ServerResult<IReadOnlyList<StateMachine.Member>>> MemberRemoveAsync(ulong memberId, CancellationToken ct)
    {
        if (!member.StateMachine.Members.TryGetValue(memberId, out var removed))
        {
            return new(ServerStatus.MemberNotFound, member.Header(), null);
        }
        var status = await ChangeThroughLeaderAsync(PeerFrames.ChangeRemove, removed, ct);
        return new(status, member.Header(), status == ServerStatus.Ok ? Members() : null);
    }

    /// <summary>
    /// Runs an add or remove on the leader, which alone knows which members are active: here when this
    /// member leads, else forwarded as a non-raft frame; then waits until this member applied the change.
    /// </summary>
    private async Task<ServerStatus> ChangeThroughLeaderAsync(byte op, StateMachine.Member target, CancellationToken ct)
    {
        var leader = member.Leader;
        if (leader == 0)
        {
            return ServerStatus.NoLeader;
        }
        if (leader == member.MemberId)
        {
            return await ChangeOnLeaderAsync(member, op, target, ct);
        }
        var answer = await member.PeerRequestAsync(leader, id => PeerFrames.EncodeMemberChangeRequest(id, op, target.Encode()), ct);
        var status = answer is not null && PeerFrames.TryDecodeMemberChangeResponse(answer, out var s) ? (ServerStatus)s : ServerStatus.Timeout;
        return status == ServerStatus.Ok ? await member.ReadIndexAsync(ct) : status;
    }

    /// <summary>
    /// The leader's half of an add (<see cref="PeerFrames.ChangeAdd"/>) or remove: the table checks, etcd's
    /// strict reconfiguration check against the leader's view of who is active, then the configuration change.
    /// </summary>
    internal static async Task<ServerStatus> ChangeOnLeaderAsync(ConclaveMember member, byte op, StateMachine.Member target, CancellationToken ct)
    {
        var members = member.StateMachine.Members;
        if (op == PeerFrames.ChangeAdd)
        {
            var check = CheckAdd(members, target);
            if (check != ServerStatus.Ok)
            {
                return check;
            }
        }
        else if (!members.TryGetValue(target.Id, out target!))
        {
            return ServerStatus.MemberNotFound;
        }
        var status = await member.RaftStatusAsync().WaitAsync(ct);
        if (status.Role != RaftRole.Leader)
        {
            return ServerStatus.NotLeader;
        }
        if (member.Options.StrictReconfigCheck)
        {
            var voters = Voters(member, status);
            var check = op == PeerFrames.ChangeAdd
                ? ReconfigCheck.MayAdd(voters, target.IsLearner)
                : ReconfigCheck.MayRemove(voters, target.Id, target.IsLearner, member.MemberId);
            if (check != ServerStatus.Ok)
            {
                ServerLog.ReconfigRefused(member.Log, member.MemberId, op == PeerFrames.ChangeAdd ? "add" : "remove", target.Id, check.ToString(), string.Join(',', voters));
                return check;
            }
        }
        var change = op == PeerFrames.ChangeAdd
            ? ConfChange.Single(target.IsLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode, target.Id) with { Context = target.Encode() }
            : ConfChange.Single(ConfChangeType.RemoveNode, target.Id);
        return await member.ProposeConfChangeAsync(change, ct);
    }

    /// <summary>Checks of an add that need only the member table: id and peer URLs unused, at most <see cref="ReconfigCheck.MaxLearners"/> learners.</summary>
    private static ServerStatus CheckAdd(IReadOnlyDictionary<ulong, StateMachine.Member> members, StateMachine.Member added)
    {
        if (members.ContainsKey(added.Id))
        {
            return ServerStatus.MemberExists;
        }
        if (members.Values.Any(m => m.PeerUrls.Intersect(added.PeerUrls).Any()))
        {
            return ServerStatus.PeerUrlExists;
        }
        if (added.IsLearner && members.Values.Count(m => m.IsLearner) + 1 > ReconfigCheck.MaxLearners)
        {
            return ServerStatus.TooManyLearners;
        }
        return ServerStatus.Ok;
    }

    /// <summary>The voting members as the leader sees them (its own entry always active).</summary>
    private static List<VoterState> Voters(ConclaveMember member, RaftStatus status) => member.StateMachine.Members.Values
        .Where(m => !m.IsLearner)
        .Select(m => new VoterState(
            m.Id,
            m.Name.Length > 0,
            m.Id == member.MemberId || (status.Progress.TryGetValue(m.Id, out var p) && p.RecentActive)))
        .ToList();

    public async Task<ServerResult<IReadOnlyList<StateMachine.Member>>> MemberUpdateAsync(ulong memberId, IReadOnlyList<string> peerUrls, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(peerUrls);
        if (!member.StateMachine.Members.TryGetValue(memberId, out var existing))
        {
            return new(ServerStatus.MemberNotFound, member.Header(), null);
        }
        if (member.StateMachine.Members.Values.Any(m => m.Id != memberId && m.PeerUrls.Intersect(peerUrls).Any()))
        {
            return new(ServerStatus.PeerUrlExists, member.Header(), null);
        }
        // The core has no "update" change: re-adding a member in its current role changes nothing
        // in the configuration, and the state machine records the new URLs from the context.
        var updated = existing with { PeerUrls = peerUrls.ToList() };
        var type = existing.IsLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
        var result = await member.ProposeConfChangeAsync(ConfChange.Single(type, memberId) with { Context = updated.Encode() }, ct);
        return new(result, member.Header(), result == ServerStatus.Ok ? Members() : null);
    }

    public async Task<ServerResult<IReadOnlyList<StateMachine.Member>>> MemberPromoteAsync(ulong memberId, CancellationToken ct)
    {
        if (!member.StateMachine.Members.TryGetValue(memberId, out var learner))
        {
            return new(ServerStatus.MemberNotFound, member.Header(), null);
        }
        if (!learner.IsLearner)
        {
            return new(ServerStatus.MemberNotLearner, member.Header(), null);
        }
        var leader = member.Leader;
        ServerStatus status;
        if (leader == 0)
        {
            status = ServerStatus.NoLeader;
        }
        else if (leader == member.MemberId)
        {
            status = await PromoteOnLeaderAsync(member, memberId, ct);
        }
        else
        {
            // Only the leader knows how far the learner got: forward (a non-raft frame), then make
            // sure this member applied the change before answering with its member list.
            var answer = await member.PeerRequestAsync(leader, id => PeerFrames.EncodePromoteRequest(id, memberId), ct);
            status = answer is not null && PeerFrames.TryDecodePromoteResponse(answer, out var s) ? (ServerStatus)s : ServerStatus.Timeout;
            if (status == ServerStatus.Ok)
            {
                status = await member.ReadIndexAsync(ct);
            }
        }
        return new(status, member.Header(), status == ServerStatus.Ok ? Members() : null);
    }

    /// <summary>The leader's half of a promotion: LearnerNotReady unless the learner's match is close to the leader's.</summary>
    internal static async Task<ServerStatus> PromoteOnLeaderAsync(ConclaveMember member, ulong memberId, CancellationToken ct)
    {
        if (!member.StateMachine.Members.TryGetValue(memberId, out var learner))
        {
            return ServerStatus.MemberNotFound;
        }
        if (!learner.IsLearner)
        {
            return ServerStatus.MemberNotLearner;
        }
        var status = await member.RaftStatusAsync().WaitAsync(ct);
        if (status.Role != RaftRole.Leader)
        {
            return ServerStatus.NotLeader;
        }
        var leaderMatch = status.Progress.TryGetValue(member.MemberId, out var mine) ? mine.Match : status.Commit;
        if (!status.Progress.TryGetValue(memberId, out var progress) || progress.Match < leaderMatch * PromoteReadyFraction)
        {
            return ServerStatus.LearnerNotReady;
        }
        if (member.Options.StrictReconfigCheck)
        {
            var voters = Voters(member, status);
            var check = ReconfigCheck.MayPromote(voters);
            if (check != ServerStatus.Ok)
            {
                ServerLog.ReconfigRefused(member.Log, member.MemberId, "promote", memberId, check.ToString(), string.Join(',', voters));
                return check;
            }
        }
        var promoted = learner with { IsLearner = false };
        return await member.ProposeConfChangeAsync(ConfChange.Single(ConfChangeType.AddNode, memberId) with { Context = promoted.Encode() }, ct);
    }

    /// <summary>
    /// The replicated member table; this member's own entry shows its configured name and client
    /// URLs until its published attributes have been applied.
    /// </summary>
    private IReadOnlyList<StateMachine.Member> Members() => member.StateMachine.Members.Values
        .Select(m => m.Id == member.MemberId && m.ClientUrls.Count == 0
            ? m with { Name = member.Options.Name, ClientUrls = member.Options.ClientUrls.ToList() }
            : m)
        .OrderBy(m => m.Id)
        .ToList();
}
