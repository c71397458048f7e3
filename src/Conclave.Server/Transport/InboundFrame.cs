namespace Conclave.Server.Transport;

/// <summary>A frame received from member <paramref name="From"/>; the payload is the reader's to keep.</summary>
public readonly record struct InboundFrame(ulong From, ReadOnlyMemory<byte> Payload);
