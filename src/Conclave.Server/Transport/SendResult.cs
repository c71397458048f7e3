namespace Conclave.Server.Transport;

/// <summary>What <see cref="IPeerTransport.Send"/> did with a frame. Only <see cref="Queued"/> means it may arrive.</summary>
public enum SendResult
{
    /// <summary>Queued for the peer; it arrives in order unless the connection is lost first.</summary>
    Queued,

    /// <summary>The peer's queue was full; the frame was dropped.</summary>
    QueueFull,

    /// <summary>The id is not among the current peers.</summary>
    UnknownPeer,

    /// <summary>The frame exceeds the maximum frame size and was dropped.</summary>
    TooLarge,

    /// <summary>The transport is not running.</summary>
    Stopped,
}
