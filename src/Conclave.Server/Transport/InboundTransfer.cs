namespace Conclave.Server.Transport;

/// <summary>
/// A large transfer (a snapshot) arriving from <see cref="From"/>. <see cref="Content"/> reads the
/// bytes as they arrive (the sender is held back by TCP flow control while they are not read) and
/// ends when the sender's stream ended. Reading to the end acknowledges the transfer to the sender;
/// disposing earlier aborts it (the sender sees <see cref="TransferStatus.Failed"/>).
/// A read that fails (connection lost, corrupt chunk) throws <see cref="IOException"/>.
/// </summary>
public sealed class InboundTransfer : IAsyncDisposable
{
    public InboundTransfer(ulong from, Stream content)
    {
        From = from;
        Content = content;
    }

    public ulong From { get; }

    public Stream Content { get; }

    public ValueTask DisposeAsync() => Content.DisposeAsync();
}
