namespace Conclave.Server.Transport;

/// <summary>The outcome of <see cref="IPeerTransport.SendTransferAsync"/>; <paramref name="Bytes"/> is how many were sent.</summary>
public readonly record struct TransferResult(TransferStatus Status, long Bytes);

public enum TransferStatus
{
    /// <summary>The receiver read every byte.</summary>
    Delivered,
    UnknownPeer,

    /// <summary>No connection could be made (connect failed, or a partition blocks the link).</summary>
    Unreachable,

    /// <summary>The peer refused the handshake.</summary>
    Refused,

    /// <summary>The connection failed part way, or the receiver gave up before the end.</summary>
    Failed,
    Stopped,
}
