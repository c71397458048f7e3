using Microsoft.Extensions.Logging;

namespace Conclave.Server;

/// <summary>The member's log events (ids 3000–3099). Nothing is logged per request.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "member {MemberId:x16} started: cluster {ClusterId:x16}, {How}, applied index {Applied}")]
    public static partial void Started(ILogger logger, ulong memberId, ulong clusterId, string how, ulong applied);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "member {MemberId:x16} stopped")]
    public static partial void Stopped(ILogger logger, ulong memberId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "member {MemberId:x16}: leader is now {Leader:x16} (term {Term}, this member is {Role})")]
    public static partial void LeaderChanged(ILogger logger, ulong memberId, ulong leader, ulong term, string role);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "member {MemberId:x16}: snapshot saved at index {Index} (term {Term})")]
    public static partial void SnapshotSaved(ILogger logger, ulong memberId, ulong index, ulong term);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "member {MemberId:x16}: installed the leader's snapshot at index {Index} (term {Term})")]
    public static partial void SnapshotInstalled(ILogger logger, ulong memberId, ulong index, ulong term);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "member {MemberId:x16}: sent snapshot {Index} to {Peer:x16}: {Outcome}")]
    public static partial void SnapshotSent(ILogger logger, ulong memberId, ulong index, ulong peer, string outcome);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "member {MemberId:x16}: receiving a snapshot from {Peer:x16} failed")]
    public static partial void SnapshotReceiveFailed(ILogger logger, Exception exception, ulong memberId, ulong peer);

    [LoggerMessage(EventId = 3040, Level = LogLevel.Warning, Message = "member {MemberId:x16}: writing a snapshot failed; the leader's snapshot replaces it")]
    public static partial void SnapshotSaveFailed(ILogger logger, Exception exception, ulong memberId);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "member {MemberId:x16}: membership is now {ConfState}")]
    public static partial void ConfChanged(ILogger logger, ulong memberId, string confState);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "member {MemberId:x16}: dropped a malformed frame from {Peer:x16}: {Reason}")]
    public static partial void BadFrame(ILogger logger, ulong memberId, ulong peer, string reason);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Critical, Message = "member {MemberId:x16}: the raft loop failed; the member stops")]
    public static partial void LoopFailed(ILogger logger, Exception exception, ulong memberId);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "member {MemberId:x16}: skipped snapshot file {Path}: {Reason}")]
    public static partial void SnapshotSkipped(ILogger logger, ulong memberId, string path, string reason);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "member {MemberId:x16}: WAL had a torn tail, cut at {Path} offset {Offset}")]
    public static partial void TornTail(ILogger logger, ulong memberId, string path, long offset);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Error, Message = "member {MemberId:x16}: HashKV at revision {Revision} differs on member {Peer:x16} ({Hash:x8} here, {PeerHash:x8} there); raising CORRUPT")]
    public static partial void CorruptionDetected(ILogger logger, ulong memberId, long revision, ulong peer, uint hash, uint peerHash);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Warning, Message = "member {MemberId:x16}: the member has been permanently removed from the cluster; it stops serving")]
    public static partial void Removed(ILogger logger, ulong memberId);

    [LoggerMessage(EventId = 3030, Level = LogLevel.Warning, Message = "member {MemberId:x16}: refused member {Operation} of {Target:x16}: {Status} (strict reconfig check; voters {Voters})")]
    public static partial void ReconfigRefused(ILogger logger, ulong memberId, string operation, ulong target, string status, string voters);

    [LoggerMessage(EventId = 3031, Level = LogLevel.Warning, Message = "member {MemberId:x16}: stopped after its removal from the cluster; the data dir used by this member must be removed before it can join again")]
    public static partial void StoppedAfterRemoval(ILogger logger, ulong memberId);

    [LoggerMessage(EventId = 3032, Level = LogLevel.Warning, Message = "member {MemberId:x16}: the data dir belongs to this member of cluster {ClusterId:x16} (token '{Token}'); --initial-cluster and --initial-cluster-token are ignored on a restart (they give member {FlagMemberId:x16}, cluster {FlagClusterId:x16}, token '{FlagToken}')")]
    public static partial void FlagsIgnored(ILogger logger, ulong memberId, ulong clusterId, string token, ulong flagMemberId, ulong flagClusterId, string flagToken);
}
