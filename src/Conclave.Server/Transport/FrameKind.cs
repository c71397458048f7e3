namespace Conclave.Server.Transport;

/// <summary>The kind byte of a frame; see docs/transport.md. Values are part of the wire format.</summary>
internal enum FrameKind : byte
{
    Hello = 1,
    HelloReply = 2,
    Message = 3,
    Chunk = 4,
    ChunkEnd = 5,
    TransferAck = 6,
}
