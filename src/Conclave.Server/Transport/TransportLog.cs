using System.Net;
using Microsoft.Extensions.Logging;

namespace Conclave.Server.Transport;

/// <summary>
/// Transport log events; the ids (2100-2199) are stable, operators match on them. Connections going up
/// or down are Information, refusals and drops Warning, corrupt input Error; nothing is logged per frame.
/// </summary>
internal static partial class TransportLog
{
    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "transport: member {LocalId} listening for peers on {EndPoint}")]
    public static partial void Listening(this ILogger logger, ulong localId, EndPoint endPoint);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "transport: member {LocalId} stopped")]
    public static partial void Stopped(this ILogger logger, ulong localId);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "transport: connected to member {PeerId} at {EndPoint}")]
    public static partial void PeerConnected(this ILogger logger, ulong peerId, EndPoint endPoint);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "transport: connection to member {PeerId} at {EndPoint} lost ({Problem}); reconnecting in {RetryIn}")]
    public static partial void PeerConnectionLost(this ILogger logger, ulong peerId, EndPoint endPoint, string problem, TimeSpan retryIn);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Debug, Message = "transport: cannot connect to member {PeerId} at {EndPoint} ({Problem}); retrying in {RetryIn}")]
    public static partial void ConnectFailed(this ILogger logger, ulong peerId, EndPoint endPoint, string problem, TimeSpan retryIn);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Warning, Message = "transport: member {PeerId} at {EndPoint} refused our connection: {Status} (it runs protocol version {TheirVersion} in cluster {TheirCluster:x16} as member {TheirMember}; we run version {OurVersion} in cluster {OurCluster:x16})")]
    public static partial void RefusedByPeer(this ILogger logger, ulong peerId, EndPoint endPoint, HandshakeStatus status, ushort theirVersion, ulong theirCluster, ulong theirMember, ushort ourVersion, ulong ourCluster);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning, Message = "transport: member {PeerId} at {EndPoint} did not answer the handshake correctly ({Problem})")]
    public static partial void HandshakeFailed(this ILogger logger, ulong peerId, EndPoint endPoint, string problem);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Warning, Message = "transport: refused connection from {Remote}: it belongs to cluster {TheirCluster:x16}, we are cluster {OurCluster:x16}")]
    public static partial void RefusedWrongCluster(this ILogger logger, string remote, ulong theirCluster, ulong ourCluster);

    [LoggerMessage(EventId = 2108, Level = LogLevel.Warning, Message = "transport: refused connection from {Remote}: it speaks protocol version {TheirVersion}, we speak version {OurVersion}")]
    public static partial void RefusedWrongVersion(this ILogger logger, string remote, ushort theirVersion, ushort ourVersion);

    [LoggerMessage(EventId = 2109, Level = LogLevel.Warning, Message = "transport: refused connection from member {SenderId} at {Remote}: it wanted member {TargetId}, we are member {LocalId} (check the peer addresses)")]
    public static partial void RefusedWrongMember(this ILogger logger, ulong senderId, string remote, ulong targetId, ulong localId);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Warning, Message = "transport: refused connection from {Remote}: {Problem}")]
    public static partial void RefusedNotAPeer(this ILogger logger, string remote, string problem);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Information, Message = "transport: member {PeerId} connected from {Remote} ({Purpose})")]
    public static partial void InboundAccepted(this ILogger logger, ulong peerId, string remote, ConnectionPurpose purpose);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Information, Message = "transport: connection from member {PeerId} at {Remote} closed")]
    public static partial void InboundClosed(this ILogger logger, ulong peerId, string remote);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Error, Message = "transport: frame of {Length} bytes from {Remote} exceeds the limit of {Max} bytes; closing the connection")]
    public static partial void FrameTooLarge(this ILogger logger, string remote, uint length, int max);

    [LoggerMessage(EventId = 2114, Level = LogLevel.Error, Message = "transport: {Problem} from {Remote}; closing the connection")]
    public static partial void BadFrame(this ILogger logger, string remote, string problem);

    [LoggerMessage(EventId = 2115, Level = LogLevel.Warning, Message = "transport: send queue to member {PeerId} is full ({Capacity} frames); dropping frames until it drains")]
    public static partial void SendQueueFull(this ILogger logger, ulong peerId, int capacity);

    [LoggerMessage(EventId = 2116, Level = LogLevel.Information, Message = "transport: sent {Bytes} bytes to member {PeerId} on a transfer connection")]
    public static partial void TransferSent(this ILogger logger, ulong peerId, long bytes);

    [LoggerMessage(EventId = 2117, Level = LogLevel.Information, Message = "transport: received {Bytes} bytes from member {PeerId} on a transfer connection")]
    public static partial void TransferReceived(this ILogger logger, ulong peerId, long bytes);

    [LoggerMessage(EventId = 2118, Level = LogLevel.Warning, Message = "transport: transfer with member {PeerId} failed after {Bytes} bytes: {Problem}")]
    public static partial void TransferFailed(this ILogger logger, ulong peerId, long bytes, string problem);

    [LoggerMessage(EventId = 2119, Level = LogLevel.Debug, Message = "transport: connection from {Remote} failed: {Problem}")]
    public static partial void InboundFailed(this ILogger logger, string remote, string problem);

    [LoggerMessage(EventId = 2120, Level = LogLevel.Debug, Message = "transport: accepting a connection failed: {Problem}")]
    public static partial void AcceptFailed(this ILogger logger, string problem);

    [LoggerMessage(EventId = 2121, Level = LogLevel.Error, Message = "transport: unexpected failure (a bug)")]
    public static partial void UnexpectedError(this ILogger logger, Exception exception);
}
