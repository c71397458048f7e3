using Conclave.Raft;

namespace Conclave.Storage.Wal;

/// <summary>A segment file of an open log. Every live entry of a segment has an index below the next segment's <see cref="FirstIndex"/>.</summary>
internal sealed record WalSegment(ulong Seq, ulong FirstIndex, string Path);

/// <summary>
/// Reads a WAL directory back. The rules (docs/storage-wal.md, "Recovery"):
/// records are read in order until one does not validate. If any valid record exists after that
/// point — in the same segment or because a later segment exists — the bad record held data that
/// was acknowledged, so recovery stops with <see cref="WalCorruptionException"/>. Otherwise, in
/// the last segment, the bad bytes are a write that was torn by a crash before it was synced:
/// they are reported as <see cref="WalTornTail"/> and cut off by the caller. Non-zero bytes after
/// the last record of a segment that is not the last are corruption.
/// </summary>
internal static class WalRecovery
{
    public sealed class State
    {
        public HardState HardState { get; set; }

        public WalSnapshotMarker Marker { get; set; }

        public List<Entry> Entries { get; } = [];

        /// <summary>Last index of the log: the last entry, or the marker or the first segment's predecessor when there are no entries.</summary>
        public ulong LastIndex { get; set; }

        public List<WalSegment> Segments { get; } = [];

        /// <summary>Where the next record goes in the last segment.</summary>
        public long WriteOffset { get; set; }

        public WalTornTail? TornTail { get; set; }
    }

    /// <summary>Lists the segment files of <paramref name="dir"/> in sequence order, checking that none is missing.</summary>
    public static List<WalSegment> ListSegments(string dir)
    {
        var segments = new List<WalSegment>();
        foreach (var path in Directory.EnumerateFiles(dir, "*" + WalFormat.SegmentExtension))
        {
            if (WalFormat.TryParseSegmentName(System.IO.Path.GetFileName(path), out var seq, out var firstIndex))
            {
                segments.Add(new WalSegment(seq, firstIndex, path));
            }
        }

        segments.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        for (var i = 1; i < segments.Count; i++)
        {
            if (segments[i].Seq != segments[i - 1].Seq + 1)
            {
                throw new WalCorruptionException(
                    segments[i].Path, 0, $"segment {segments[i - 1].Seq + 1} is missing between {System.IO.Path.GetFileName(segments[i - 1].Path)} and this one");
            }
        }

        return segments;
    }

    public static State Recover(List<WalSegment> segments)
    {
        var state = new State();
        for (var s = 0; s < segments.Count; s++)
        {
            var segment = segments[s];
            var isLast = s == segments.Count - 1;
            var bytes = File.ReadAllBytes(segment.Path);
            if (!WalFormat.TryReadHeader(bytes, out var seq, out var firstIndex, out var headerReason))
            {
                throw new WalCorruptionException(segment.Path, 0, headerReason);
            }

            if (seq != segment.Seq || firstIndex != segment.FirstIndex)
            {
                throw new WalCorruptionException(
                    segment.Path, 0, $"segment header says sequence {seq} and first index {firstIndex}, which does not match the file name");
            }

            if (s == 0)
            {
                // Entries below the oldest remaining segment were released; the final marker must cover them.
                state.LastIndex = firstIndex - 1;
            }

            long offset = WalFormat.HeaderSize;
            string reason;
            while (true)
            {
                if (!WalFormat.TryReadRecord(bytes, seq, offset, out var length, out reason))
                {
                    break;
                }

                var payload = bytes.AsSpan((int)offset + WalFormat.RecordHeaderSize, length);
                var items = WalFormat.TryDecodePayload(payload, out var decodeReason)
                    ?? throw new WalCorruptionException(segment.Path, offset, $"record passes its checksum but is malformed: {decodeReason}");
                if (s > 0 && offset == WalFormat.HeaderSize)
                {
                    CheckContinuity(state, items, segments[s - 1], segment);
                }

                Apply(state, items, segment.Path, offset);
                offset += WalFormat.RecordHeaderSize + WalFormat.Align8(length);
            }

            if (s > 0 && offset == WalFormat.HeaderSize && !isLast)
            {
                throw new WalCorruptionException(segment.Path, offset, $"{reason}: a segment that is not the last has no first record");
            }

            CheckTail(bytes, seq, offset, reason, segment.Path, isLast, state);
            state.Segments.Add(segment);
            state.WriteOffset = offset;
        }

        if (segments.Count > 0 && segments[0].FirstIndex - 1 > state.Marker.Index)
        {
            throw new WalCorruptionException(
                segments[0].Path,
                0,
                $"entries before index {segments[0].FirstIndex} were released, but the latest snapshot marker covers only up to {state.Marker.Index}");
        }

        return state;
    }

    /// <summary>
    /// Every segment after the first opens with the hard state and snapshot marker in force when it
    /// was started, and its first index is one past the last index then. Comparing them with what
    /// the previous segments recovered detects a previous segment that lost records at its end.
    /// </summary>
    private static void CheckContinuity(State state, List<WalFormat.Item> items, WalSegment previous, WalSegment segment)
    {
        var ok = items.Count >= 2
            && items[0].Kind == WalFormat.ItemHardState
            && items[1].Kind == WalFormat.ItemSnapshotMarker
            && items[0].HardState == state.HardState
            && items[1].Marker == state.Marker
            && segment.FirstIndex - 1 == state.LastIndex;
        if (!ok)
        {
            throw new WalCorruptionException(
                previous.Path,
                state.WriteOffset,
                $"segment ends early: {System.IO.Path.GetFileName(segment.Path)} starts after index {segment.FirstIndex - 1}, "
                + $"but this one ends at index {state.LastIndex} (hard state {state.HardState}, snapshot {state.Marker.Index})");
        }
    }

    private static void CheckTail(byte[] bytes, ulong seq, long badOffset, string reason, string path, bool isLast, State state)
    {
        if (badOffset >= bytes.Length)
        {
            return;
        }

        // Records are 8-byte aligned: any valid record after the bad one proves the bad one was once durable.
        // Most positions fail on the 20-byte header checksum, so this scan is linear in practice.
        for (var p = badOffset + 8; p + WalFormat.RecordHeaderSize <= bytes.Length; p += 8)
        {
            if (WalFormat.TryReadRecord(bytes, seq, p, out _, out _))
            {
                throw new WalCorruptionException(path, badOffset, $"{reason}, and a valid record follows at offset {p}");
            }
        }

        var lastNonZero = bytes.AsSpan((int)badOffset).LastIndexOfAnyExcept((byte)0);
        if (lastNonZero < 0)
        {
            return;
        }

        if (!isLast)
        {
            throw new WalCorruptionException(path, badOffset, $"{reason}, in a segment that is not the last one");
        }

        state.TornTail = new WalTornTail(path, badOffset, lastNonZero + 1);
    }

    private static void Apply(State state, List<WalFormat.Item> items, string path, long offset)
    {
        foreach (var item in items)
        {
            switch (item.Kind)
            {
                case WalFormat.ItemHardState:
                    state.HardState = item.HardState;
                    break;
                case WalFormat.ItemSnapshotMarker:
                    if (item.Marker.Index < state.Marker.Index)
                    {
                        break;
                    }

                    state.Marker = item.Marker;
                    DropThrough(state.Entries, item.Marker.Index);
                    state.LastIndex = Math.Max(state.LastIndex, item.Marker.Index);
                    break;
                default:
                    var e = item.Entry;
                    if (e.Index <= state.Marker.Index)
                    {
                        break;
                    }

                    if (e.Index > state.LastIndex + 1)
                    {
                        throw new WalCorruptionException(path, offset, $"entry {e.Index} leaves a gap after index {state.LastIndex}");
                    }

                    if (e.Index <= state.LastIndex)
                    {
                        // A conflicting suffix: this entry replaces the one at its index and everything after it.
                        var keep = state.Entries.Count == 0 ? 0 : (int)Math.Max(0, (long)e.Index - (long)state.Entries[0].Index);
                        state.Entries.RemoveRange(keep, state.Entries.Count - keep);
                    }

                    state.Entries.Add(e);
                    state.LastIndex = e.Index;
                    break;
            }
        }
    }

    private static void DropThrough(List<Entry> entries, ulong index)
    {
        if (entries.Count == 0 || entries[0].Index > index)
        {
            return;
        }

        var drop = (int)Math.Min((ulong)entries.Count, index - entries[0].Index + 1);
        entries.RemoveRange(0, drop);
    }
}
