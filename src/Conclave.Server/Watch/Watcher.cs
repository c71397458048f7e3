using Conclave.Storage.Mvcc;

namespace Conclave.Server.Watch;

internal enum WatcherState
{
    /// <summary>Fed by the hub's commit handler.</summary>
    Synced,

    /// <summary>Behind: fed from history by the catch-up loop.</summary>
    Unsynced,

    /// <summary>Gone: canceled, compacted away, or its stream closed. Never fed again.</summary>
    Canceled,
}

/// <summary>
/// One watcher. Every mutable field is guarded by the hub's lock.
/// <para>
/// <see cref="NextRevision"/> is the first revision the watcher has not yet been given. While
/// <see cref="WatcherState.Unsynced"/> it is exact: everything below it has been queued on the stream.
/// While <see cref="WatcherState.Synced"/> the watcher has everything up to the hub's last revision L,
/// and NextRevision matters only when it is above L + 1 (a future start revision: commits below it are skipped).
/// </para>
/// </summary>
internal sealed class Watcher
{
    public Watcher(WatchStream stream, long id, byte[] key, byte[] rangeEnd, WatchCreateRequest request, long nextRevision)
    {
        Stream = stream;
        Id = id;
        Key = key;
        RangeEnd = rangeEnd;
        NoPut = (request.Filters & WatchFilters.NoPut) != 0;
        NoDelete = (request.Filters & WatchFilters.NoDelete) != 0;
        PrevKv = request.PrevKv;
        ProgressNotify = request.ProgressNotify;
        Fragment = request.Fragment;
        NextRevision = nextRevision;
    }

    public WatchStream Stream { get; }

    public long Id { get; }

    /// <summary>Start of the range, never empty.</summary>
    public byte[] Key { get; }

    /// <summary>Empty = the single key; "\0" = every key ≥ Key; else the exclusive end (see <see cref="KeyRange"/>).</summary>
    public byte[] RangeEnd { get; }

    public bool IsSingleKey => RangeEnd.Length == 0;

    public bool NoPut { get; }

    public bool NoDelete { get; }

    public bool PrevKv { get; }

    public bool ProgressNotify { get; }

    public bool Fragment { get; }

    public long NextRevision { get; set; }

    public WatcherState State { get; set; }

    /// <summary>An event response was queued since the last progress tick of the stream.</summary>
    public bool SentSinceTick { get; set; }

    public bool Contains(ReadOnlySpan<byte> key) => KeyRange.Contains(Key, RangeEnd, key);

    /// <summary>The event as this watcher wants it (filtered out: null; PrevKv removed unless asked for).</summary>
    public Event? Project(Event ev)
    {
        if (ev.Type == EventType.Put ? NoPut : NoDelete)
        {
            return null;
        }
        return PrevKv || ev.PrevKv is null ? ev : ev with { PrevKv = null };
    }

    public override string ToString() => $"watcher {Id} {State} next={NextRevision}";
}
