using Conclave.Server.Api;
using Conclave.Storage.Mvcc;
using Microsoft.Extensions.Logging;

namespace Conclave.Serve;

/// <summary>
/// etcd's --auto-compaction-mode/--auto-compaction-retention, run by every member against the server
/// API (a compaction is a replicated command, so a follower's request is forwarded and duplicate
/// compactions to an old revision fail harmlessly).
/// <list type="bullet">
/// <item>periodic: every retention/10 (at least 1 s) the current revision is sampled; the store is
/// compacted to the sample taken one retention period ago, so history of the last period is kept;</item>
/// <item>revision: every 5 minutes the store is compacted to current revision − retention.</item>
/// </list>
/// </summary>
public sealed partial class AutoCompactor(IKeyValueApi kv, ServeSettings settings, TimeProvider time, ILogger logger)
{
    public async Task RunAsync(CancellationToken ct)
    {
        var enabled = settings.AutoCompactionMode == AutoCompactionMode.Periodic
            ? settings.AutoCompactionPeriod > TimeSpan.Zero
            : settings.AutoCompactionRevisions > 0;
        if (!enabled)
        {
            return;
        }
        var interval = settings.AutoCompactionMode == AutoCompactionMode.Periodic
            ? TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, settings.AutoCompactionPeriod.Ticks / 10))
            : TimeSpan.FromMinutes(5);
        var samples = new Queue<long>();
        var keep = settings.AutoCompactionMode == AutoCompactionMode.Periodic
            ? (int)Math.Max(1, settings.AutoCompactionPeriod.Ticks / interval.Ticks)
            : 0;
        long lastCompacted = 0;
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                var current = await kv.RangeAsync(RangeRequest.Single(new byte[] { 0 }), serializable: true, ct).ConfigureAwait(false);
                if (!current.IsOk)
                {
                    continue;
                }
                long target;
                if (settings.AutoCompactionMode == AutoCompactionMode.Periodic)
                {
                    samples.Enqueue(current.Header.Revision);
                    if (samples.Count <= keep)
                    {
                        continue;
                    }
                    target = samples.Dequeue();
                }
                else
                {
                    target = current.Header.Revision - settings.AutoCompactionRevisions;
                }
                if (target <= lastCompacted || target <= 1)
                {
                    continue;
                }
                var result = await kv.CompactAsync(target, physical: false, ct).ConfigureAwait(false);
                if (result.IsOk || result.Status == ServerStatus.Compacted)
                {
                    lastCompacted = target;
                    LogCompacted(logger, target);
                }
                else
                {
                    LogFailed(logger, target, result.Status);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "auto-compaction: compacted to revision {Revision}")]
    private static partial void LogCompacted(ILogger logger, long revision);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "auto-compaction: compacting to revision {Revision} failed: {Status}")]
    private static partial void LogFailed(ILogger logger, long revision, ServerStatus status);
}
