namespace Conclave.Server.Watch;

public sealed record WatchHubOptions
{
    /// <summary>
    /// Event responses a stream may hold unread. When a stream has this many queued, caught-up watchers
    /// of it move to the catch-up group instead of queueing more (etcd's chanBufLen is 128).
    /// </summary>
    public int StreamBufferResponses { get; init; } = 128;

    /// <summary>
    /// Events the catch-up loop reads from history per watcher per turn (whole revisions: a turn may
    /// overshoot by the rest of one revision).
    /// </summary>
    public int CatchUpChunkEvents { get; init; } = 1000;

    /// <summary>
    /// Estimated encoded size above which a response of a watcher that asked for fragments is split
    /// (etcd: --max-request-bytes, 1.5 MiB by default). Estimate: key, value and previous kv bytes of
    /// each event plus <see cref="EventOverheadBytes"/>.
    /// </summary>
    public int MaxResponseBytes { get; init; } = 1536 * 1024;

    /// <summary>Bytes added per event and per kv to the size estimate for field tags, lengths and revisions.</summary>
    public int EventOverheadBytes { get; init; } = 64;

    /// <summary>Interval of progress notifications to watchers that asked for them (etcd: 10 minutes).</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMinutes(10);
}
