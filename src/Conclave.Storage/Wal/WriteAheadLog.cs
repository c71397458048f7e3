using System.Diagnostics;
using Conclave.Raft;
using Conclave.Storage.Internal;
using Microsoft.Win32.SafeHandles;

namespace Conclave.Storage.Wal;

/// <summary>
/// The write-ahead log of one member: hard state, entries and snapshot markers in segment files
/// of one directory. All writes go through one writer thread that drains every request waiting
/// when it wakes, encodes them as one record, writes it with one call and syncs it once (group
/// commit); each call completes only after its data is durable. Requests are applied in the order
/// they were queued. After an I/O error or a failpoint "crash" the log is failed: every pending
/// and later call fails with that error, and the log must be disposed and reopened.
/// </summary>
public sealed class WriteAheadLog : IDisposable
{
    private readonly string _dir;
    private readonly WalOptions _options;
    private readonly IWalFailpoints? _failpoints;
    private readonly SafeFileHandle _lock;
    private readonly object _gate = new();
    private readonly Thread _writer;
    private readonly RecordBuilder _builder = new();

    // Writer-thread state.
    private readonly List<WalSegment> _segments;
    private SafeFileHandle _current;
    private long _writeOffset;
    private Task<SafeFileHandle>? _prepared;
    private HardState _hardState;
    private WalSnapshotMarker _marker;
    private ulong _lastIndex;
    private long _syncCount;

    // Guarded by _gate.
    private List<Request> _queue = [];
    private bool _stopping;
    private Exception? _failure;
    private bool _disposed;

    private WriteAheadLog(string dir, WalOptions options, SafeFileHandle lockHandle, WalRecovery.State state, SafeFileHandle current)
    {
        _dir = dir;
        _options = options;
        _failpoints = options.Failpoints;
        _lock = lockHandle;
        _segments = state.Segments;
        _current = current;
        _writeOffset = state.WriteOffset;
        _hardState = state.HardState;
        _marker = state.Marker;
        _lastIndex = state.LastIndex;
        PrepareNextSegment();
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "conclave-wal-writer" };
        _writer.Start();
    }

    /// <summary>Number of data syncs issued so far: one per group-commit batch (a rollover's sync replaces the batch's).</summary>
    public long SyncCount => Interlocked.Read(ref _syncCount);

    /// <summary>
    /// Opens (creating if needed) the log in <paramref name="dir"/> and recovers it. A torn last
    /// record is cut off (reported in <see cref="WalOpenResult.TornTail"/>); any other damage
    /// throws <see cref="WalCorruptionException"/> naming the file and byte offset. Only one
    /// instance may have a directory open; a second one fails with <see cref="IOException"/>.
    /// </summary>
    public static WalOpenResult Open(string dir, WalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Directory.CreateDirectory(dir);
        var lockHandle = File.OpenHandle(Path.Combine(dir, WalFormat.LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        SafeFileHandle? current = null;
        try
        {
            var prepared = Path.Combine(dir, WalFormat.PreparedSegmentName);
            if (File.Exists(prepared))
            {
                File.Delete(prepared);
            }

            var segments = WalRecovery.ListSegments(dir);
            if (segments.Count == 0)
            {
                var path = Path.Combine(dir, WalFormat.SegmentName(0, 1));
                CreateFirstSegment(dir, path, options.SegmentSize);
                segments.Add(new WalSegment(0, 1, path));
            }

            var state = WalRecovery.Recover(segments);
            current = File.OpenHandle(state.Segments[^1].Path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            if (state.TornTail is { } torn)
            {
                RandomAccess.Write(current, new byte[torn.Length], torn.Offset);
                DurableIo.SyncData(current);
            }

            var log = new WriteAheadLog(dir, options, lockHandle, state, current);
            var entries = state.Entries.ToArray();
            return new WalOpenResult(log, state.HardState, state.Marker, entries, state.TornTail);
        }
        catch
        {
            current?.Dispose();
            lockHandle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends <paramref name="entries"/> and records <paramref name="hardState"/> (an empty hard
    /// state means "unchanged") in one record; completes when both are durable. An entry at an
    /// index at or below the last one replaces it and everything after it. Entries must be
    /// contiguous, above the latest snapshot marker, and start no later than last index + 1, else
    /// the call fails with <see cref="ArgumentException"/> and writes nothing. The caller must not
    /// change <paramref name="entries"/> until the call completes. <paramref name="ct"/> is observed
    /// only before the request is queued: once queued it is written.
    /// </summary>
    public ValueTask SaveAsync(HardState hardState, IReadOnlyList<Entry> entries, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (hardState.IsEmpty && entries.Count == 0)
        {
            return ValueTask.CompletedTask;
        }

        return Enqueue(new Request(RequestKind.Save, hardState, entries, default, 0), ct);
    }

    /// <summary>
    /// Records that a snapshot covering every entry up to <paramref name="index"/> is durable
    /// elsewhere (save the snapshot file first). Recovery then returns only entries after it.
    /// A marker below the current one fails with <see cref="ArgumentException"/>.
    /// </summary>
    public ValueTask SaveSnapshotMarkerAsync(ulong index, ulong term, CancellationToken ct = default) =>
        Enqueue(new Request(RequestKind.Marker, default, [], new WalSnapshotMarker(index, term), 0), ct);

    /// <summary>
    /// Deletes the segments whose live entries are all at or below <paramref name="index"/>; the
    /// last segment is always kept. <paramref name="index"/> must not exceed the latest snapshot
    /// marker (else <see cref="ArgumentException"/>), so nothing is released that no snapshot holds.
    /// </summary>
    public ValueTask ReleaseToAsync(ulong index, CancellationToken ct = default) =>
        Enqueue(new Request(RequestKind.Release, default, [], default, index), ct);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _stopping = true;
            Monitor.PulseAll(_gate);
        }

        _writer.Join();
        _current.Dispose();
        if (_prepared is not null)
        {
            try
            {
                _prepared.GetAwaiter().GetResult().Dispose();
            }
            catch (IOException)
            {
                // Preparing failed; the next Open deletes whatever was left.
            }
        }

        _lock.Dispose();
    }

    private ValueTask Enqueue(Request request, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(ct);
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_failure is not null)
            {
                return ValueTask.FromException(_failure);
            }

            _queue.Add(request);
            if (_queue.Count == 1)
            {
                Monitor.Pulse(_gate);
            }
        }

        return new ValueTask(request.Completion.Task);
    }

    private void WriterLoop()
    {
        var batch = new List<Request>();
        while (true)
        {
            lock (_gate)
            {
                while (_queue.Count == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                }

                if (_queue.Count == 0)
                {
                    return;
                }

                (batch, _queue) = (_queue, batch);
            }

            try
            {
                ProcessBatch(batch);
            }
            catch (Exception ex)
            {
                List<Request> pending;
                lock (_gate)
                {
                    _failure = ex;
                    pending = _queue;
                    _queue = [];
                }

                foreach (var r in batch.Concat(pending))
                {
                    r.Completion.TrySetException(ex);
                }

                return;
            }

            batch.Clear();
        }
    }

    private void ProcessBatch(List<Request> batch)
    {
        var preHardState = _hardState;
        var preMarker = _marker;
        var preLastIndex = _lastIndex;
        _builder.Reset();
        var written = new List<Request>(batch.Count);
        List<Request>? releases = null;
        var recordFull = false;
        for (var i = 0; i < batch.Count && !recordFull; i++)
        {
            var r = batch[i];
            switch (r.Kind)
            {
                case RequestKind.Save:
                    var size = RecordBuilder.EncodedSize(r.Entries);
                    if (size > _options.MaxRecordSize)
                    {
                        r.Completion.TrySetException(new ArgumentException(
                            $"wal: a save of {size} bytes exceeds the largest record ({_options.MaxRecordSize} bytes)"));
                        continue;
                    }

                    if (!_builder.IsEmpty && _builder.BodyLength + size > _options.MaxRecordSize)
                    {
                        // This record is full: the rest goes into the next turn, in order.
                        lock (_gate)
                        {
                            _queue.InsertRange(0, batch.Skip(i));
                        }

                        batch.RemoveRange(i, batch.Count - i);
                        recordFull = true;
                        continue;
                    }

                    if (ValidateEntries(r.Entries) is { } error)
                    {
                        r.Completion.TrySetException(new ArgumentException(error));
                        continue;
                    }

                    _builder.AddEntries(r.Entries);
                    if (r.Entries.Count > 0)
                    {
                        _lastIndex = r.Entries[^1].Index;
                    }

                    if (!r.HardState.IsEmpty)
                    {
                        _builder.AddHardState(r.HardState);
                        _hardState = r.HardState;
                    }

                    written.Add(r);
                    break;
                case RequestKind.Marker:
                    if (r.Marker.Index < _marker.Index)
                    {
                        r.Completion.TrySetException(new ArgumentException(
                            $"wal: snapshot marker {r.Marker.Index} is below the current one ({_marker.Index})"));
                        continue;
                    }

                    _builder.AddSnapshotMarker(r.Marker);
                    _marker = r.Marker;
                    _lastIndex = Math.Max(_lastIndex, r.Marker.Index);
                    written.Add(r);
                    break;
                default:
                    (releases ??= []).Add(r);
                    break;
            }
        }

        if (!_builder.IsEmpty)
        {
            _failpoints?.Hit(WalFailpoint.BeforeWrite);
            // A segment after the first must open with the state prefix. Only a recovery that cut off
            // the segment's first record (damaged) leaves the writer at its start; it writes the prefix again.
            var prefix = _writeOffset == WalFormat.HeaderSize && _segments[^1].Seq > 0;
            var fits = _writeOffset + _builder.RecordSize(prefix) <= _options.SegmentSize;
            if (fits || _writeOffset == WalFormat.HeaderSize)
            {
                var record = _builder.Seal(_segments[^1].Seq, _writeOffset, prefix, preHardState, preMarker);
                WriteRecord(_current, record, _writeOffset);
                Sync(_current);
                _writeOffset += record.Length;
            }
            else
            {
                Rollover(preHardState, preMarker, preLastIndex + 1);
            }

            _failpoints?.Hit(WalFailpoint.AfterFsync);
        }

        foreach (var r in written)
        {
            r.Completion.TrySetResult();
        }

        if (releases is not null)
        {
            foreach (var r in releases)
            {
                Release(r);
            }
        }
    }

    private string? ValidateEntries(IReadOnlyList<Entry> entries)
    {
        if (entries.Count == 0)
        {
            return null;
        }

        var first = entries[0].Index;
        for (var i = 1; i < entries.Count; i++)
        {
            if (entries[i].Index != first + (ulong)i)
            {
                return $"wal: entries are not contiguous: index {entries[i].Index} follows {entries[i - 1].Index}";
            }
        }

        if (first <= _marker.Index)
        {
            return $"wal: entry index {first} is covered by the snapshot marker at {_marker.Index}";
        }

        if (first > _lastIndex + 1)
        {
            return $"wal: entry index {first} leaves a gap after the last index {_lastIndex}";
        }

        return null;
    }

    private void WriteRecord(SafeFileHandle file, ReadOnlySpan<byte> record, long offset)
    {
        if (_failpoints is null)
        {
            RandomAccess.Write(file, record, offset);
            return;
        }

        var half = record.Length / 2;
        RandomAccess.Write(file, record[..half], offset);
        _failpoints.Hit(WalFailpoint.MidRecord);
        RandomAccess.Write(file, record[half..], offset + half);
    }

    private void Sync(SafeFileHandle file)
    {
        _failpoints?.Hit(WalFailpoint.BeforeFsync);
        if (_options.OnFsync is { } onFsync)
        {
            var started = Stopwatch.GetTimestamp();
            DurableIo.SyncData(file);
            onFsync(Stopwatch.GetElapsedTime(started));
        }
        else
        {
            DurableIo.SyncData(file);
        }
        Interlocked.Increment(ref _syncCount);
    }

    /// <summary>
    /// Starts the batch in the builder in a new segment. The segment is written and synced under
    /// its temporary name, then renamed into place and the directory synced, so a segment file
    /// with a final name always has a durable header and first record.
    /// </summary>
    private void Rollover(HardState preHardState, WalSnapshotMarker preMarker, ulong firstIndex)
    {
        var next = _prepared is null ? CreatePreparedSegment(_dir, _options.SegmentSize) : _prepared.GetAwaiter().GetResult();
        _prepared = null;
        var seq = _segments[^1].Seq + 1;
        var path = Path.Combine(_dir, WalFormat.SegmentName(seq, firstIndex));
        try
        {
            var header = new byte[WalFormat.HeaderSize];
            WalFormat.WriteHeader(header, seq, firstIndex);
            RandomAccess.Write(next, header, 0);
            var record = _builder.Seal(seq, WalFormat.HeaderSize, true, preHardState, preMarker);
            WriteRecord(next, record, WalFormat.HeaderSize);
            Sync(next);
            _failpoints?.Hit(WalFailpoint.MidSegmentRollover);
            File.Move(Path.Combine(_dir, WalFormat.PreparedSegmentName), path);
            _failpoints?.Hit(WalFailpoint.AfterSegmentRename);
            DurableIo.SyncDirectory(_dir);
            _writeOffset = WalFormat.HeaderSize + record.Length;
        }
        catch
        {
            next.Dispose();
            throw;
        }

        _current.Dispose();
        _current = next;
        _segments.Add(new WalSegment(seq, firstIndex, path));
        PrepareNextSegment();
    }

    private void PrepareNextSegment()
    {
        var dir = _dir;
        var size = _options.SegmentSize;
        _prepared = Task.Run(() => CreatePreparedSegment(dir, size));
    }

    private static SafeFileHandle CreatePreparedSegment(string dir, long size)
    {
        var path = Path.Combine(dir, WalFormat.PreparedSegmentName);
        var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read, FileOptions.None, size);
        try
        {
            if (RandomAccess.GetLength(handle) < size)
            {
                RandomAccess.SetLength(handle, size);
            }

            RandomAccess.FlushToDisk(handle);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static void CreateFirstSegment(string dir, string path, long size)
    {
        using (var handle = CreatePreparedSegment(dir, size))
        {
            var header = new byte[WalFormat.HeaderSize];
            WalFormat.WriteHeader(header, 0, 1);
            RandomAccess.Write(handle, header, 0);
            DurableIo.SyncData(handle);
        }

        File.Move(Path.Combine(dir, WalFormat.PreparedSegmentName), path);
        DurableIo.SyncDirectory(dir);
    }

    private void Release(Request r)
    {
        if (r.ReleaseIndex > _marker.Index)
        {
            r.Completion.TrySetException(new ArgumentException(
                $"wal: cannot release entries up to {r.ReleaseIndex}: the latest snapshot marker covers only up to {_marker.Index}"));
            return;
        }

        var deleted = 0;
        while (_segments.Count >= 2 && _segments[1].FirstIndex - 1 <= r.ReleaseIndex)
        {
            if (deleted == 0)
            {
                _failpoints?.Hit(WalFailpoint.BeforeRelease);
            }

            File.Delete(_segments[0].Path);
            _segments.RemoveAt(0);
            deleted++;
        }

        if (deleted > 0)
        {
            DurableIo.SyncDirectory(_dir);
        }

        r.Completion.TrySetResult();
    }

    private enum RequestKind
    {
        Save,
        Marker,
        Release,
    }

    private sealed record Request(RequestKind Kind, HardState HardState, IReadOnlyList<Entry> Entries, WalSnapshotMarker Marker, ulong ReleaseIndex)
    {
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
