namespace Conclave.Storage.Mvcc;

/// <summary>
/// The store's image fixed at one revision by <see cref="MvccStore.BeginSnapshot"/>, written on
/// demand by <see cref="WriteTo"/> while the store goes on taking writes. Holds the store's
/// physical pruning back until disposed; dispose it as soon as it is written.
/// </summary>
public sealed class MvccSnapshotImage : IDisposable
{
    private readonly MvccStore _store;
    private readonly StoreState _state;
    private readonly long _compact;
    private int _disposed;

    internal MvccSnapshotImage(MvccStore store, StoreState state, long revision, long compactRevision)
    {
        _store = store;
        _state = state;
        Revision = revision;
        _compact = compactRevision;
    }

    /// <summary>The store's revision the image holds.</summary>
    public long Revision { get; }

    /// <summary>Writes the image (the format of <see cref="MvccStore.WriteSnapshot"/>). Any thread; once or more.</summary>
    public void WriteTo(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _store.WriteImage(_state, Revision, _compact, output);
    }

    /// <summary>Releases the pin: pruning of the store may go on.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Interlocked.Decrement(ref _state.Pins);
        }
    }
}
