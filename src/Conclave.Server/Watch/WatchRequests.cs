namespace Conclave.Server.Watch;

/// <summary>Event types a watcher does not want (etcd's WatchCreateRequest.filters).</summary>
[Flags]
public enum WatchFilters
{
    None = 0,

    /// <summary>Drop put events (etcd NOPUT).</summary>
    NoPut = 1,

    /// <summary>Drop delete events (etcd NODELETE).</summary>
    NoDelete = 2,
}

/// <summary>
/// One watcher to create on a <see cref="WatchStream"/> (etcd's WatchCreateRequest).
/// <para>
/// Range: an empty <see cref="Key"/> is read as the single byte "\0" (as etcd does), so key "" with
/// range end "\0" watches every key. <see cref="RangeEnd"/> empty = the single key; "\0" = every key ≥ key;
/// otherwise [key, rangeEnd), which must not be empty (rangeEnd ≤ key is refused).
/// </para>
/// </summary>
public sealed record WatchCreateRequest
{
    public ReadOnlyMemory<byte> Key { get; init; }

    public ReadOnlyMemory<byte> RangeEnd { get; init; }

    /// <summary>
    /// First revision to deliver, inclusive. ≤ 0 = the next revision the hub publishes ("now").
    /// A past revision replays history from it (refused with a compaction cancel when below the
    /// compaction revision); a future revision waits for it.
    /// </summary>
    public long StartRevision { get; init; }

    /// <summary>Ask for an empty response with the current revision after a progress interval without events.</summary>
    public bool ProgressNotify { get; init; }

    public WatchFilters Filters { get; init; }

    /// <summary>Include each event's previous kv (when the key was live before).</summary>
    public bool PrevKv { get; init; }

    /// <summary>The client's id for the watcher; 0 = assign one (etcd's AutoWatchID). Must be unused on the stream.</summary>
    public long WatchId { get; init; }

    /// <summary>Split responses larger than <see cref="WatchHubOptions.MaxResponseBytes"/> into fragments.</summary>
    public bool Fragment { get; init; }
}

public enum WatchCreateStatus
{
    Ok = 0,

    /// <summary>The requested watch id is already in use on the stream (etcd ErrWatcherDuplicateID).</summary>
    DuplicateWatchId,

    /// <summary>rangeEnd ≤ key (etcd ErrEmptyWatcherRange).</summary>
    EmptyRange,
}

/// <summary>
/// Outcome of <see cref="WatchStream.Create"/>. The stream has already queued the matching response
/// (created, or created + canceled with the reason), so a front end only forwards the response channel.
/// <see cref="WatchId"/> is -1 when the create failed.
/// </summary>
public sealed record WatchCreateResult(WatchCreateStatus Status, long WatchId);

public static class WatchCreateStatusMessages
{
    /// <summary>etcd's cancel_reason text for a failed create, "" for Ok.</summary>
    public static string Message(this WatchCreateStatus status) => status switch
    {
        WatchCreateStatus.Ok => "",
        WatchCreateStatus.DuplicateWatchId => "mvcc: duplicate watch ID provided on the WatchStream",
        WatchCreateStatus.EmptyRange => "mvcc: watcher range is empty",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}
