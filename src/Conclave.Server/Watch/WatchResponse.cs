using Conclave.Storage.Mvcc;

namespace Conclave.Server.Watch;

/// <summary>
/// One message of a watch stream (etcd's WatchResponse without the cluster header fields).
/// <para>
/// <see cref="Revision"/> is the header revision: for events, the watcher has now received every event
/// of its range up to and including it; for created / canceled / progress responses it is the hub's
/// current revision. <see cref="Events"/> are in revision order, each revision complete, except that a
/// response split because of its size comes as several responses with <see cref="Fragment"/> true on
/// all but the last.
/// </para>
/// </summary>
public sealed record WatchResponse
{
    /// <summary>The response to a stream-wide progress request carries this id (clientv3.InvalidWatchID).</summary>
    public const long StreamWatchId = -1;

    public required long WatchId { get; init; }

    public required long Revision { get; init; }

    public IReadOnlyList<Event> Events { get; init; } = [];

    public bool Created { get; init; }

    public bool Canceled { get; init; }

    public string CancelReason { get; init; } = "";

    /// <summary>
    /// Non-zero when the watcher was canceled because the revision it needed next is below the
    /// compaction revision; the client may watch again from this revision.
    /// </summary>
    public long CompactRevision { get; init; }

    public bool Fragment { get; init; }

    /// <summary>As clientv3 decides: no events and not a created, canceled or compacted response.</summary>
    public bool IsProgressNotify => Events.Count == 0 && !Created && !Canceled && CompactRevision == 0;
}
