using Conclave.Raft;
using Conclave.Storage.Wal;
using static Conclave.Storage.Tests.Wal.WalTestKit;

namespace Conclave.Storage.Tests.Wal;

/// <summary>
/// Random histories of saves (with overwrites), snapshot markers, releases, crashes and reopens,
/// checked against a naive in-memory model of what must be recovered after each reopen.
/// </summary>
public class WalModelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public async Task Recovery_matches_a_naive_model(int seed)
    {
        using var dir = new TempDir();
        var rng = new Random(seed);
        var failpoints = new CrashingFailpoints();
        var options = SmallSegments(failpoints, segmentSize: 4096 + (rng.Next(4) * 1024));

        // The model: every entry by index, the hard state, the marker.
        var model = new SortedDictionary<ulong, Entry>();
        var hs = HardState.Empty;
        var marker = default(WalSnapshotMarker);
        ulong term = 1;
        ulong LastIndex() => model.Count > 0 ? model.Keys.Last() : marker.Index;

        var log = Open(dir.Path, options).Log;
        for (var step = 0; step < 250; step++)
        {
            var op = rng.Next(100);
            if (op < 70)
            {
                if (rng.Next(10) == 0)
                {
                    term++;
                }

                var last = LastIndex();
                var from = Math.Max(marker.Index + 1, last + 1 - (ulong)rng.Next(0, Math.Min(6, (int)(last - marker.Index) + 1)));
                var entries = Entries(term, from, rng.Next(0, 5), dataSize: rng.Next(0, 400), seed: step);
                var newHs = rng.Next(4) == 0 ? HardState.Empty : new HardState(term, (ulong)rng.Next(1, 4), from - 1);
                if (entries.Length == 0 && newHs.IsEmpty)
                {
                    continue;
                }

                var crash = rng.Next(25) == 0 ? (rng.Next(2) == 0 ? WalFailpoint.BeforeWrite : WalFailpoint.AfterFsync) : (WalFailpoint?)null;
                if (crash is { } point)
                {
                    failpoints.Arm(point);
                    await Assert.ThrowsAsync<SimulatedCrashException>(async () => await log.SaveAsync(newHs, entries));
                    failpoints.CrashAt = null;
                    log.Dispose();
                    if (point == WalFailpoint.BeforeWrite)
                    {
                        log = Reopened(dir.Path, options, model, hs, marker);
                        continue;
                    }
                }
                else
                {
                    await log.SaveAsync(newHs, entries);
                }

                foreach (var k in model.Keys.Where(k => entries.Length > 0 && k >= from).ToList())
                {
                    model.Remove(k);
                }

                foreach (var e in entries)
                {
                    model[e.Index] = e;
                }

                hs = newHs.IsEmpty ? hs : newHs;
                if (crash is not null)
                {
                    log = Reopened(dir.Path, options, model, hs, marker);
                }
            }
            else if (op < 80)
            {
                var last = LastIndex();
                var index = marker.Index + (ulong)rng.Next(0, (int)(last - marker.Index) + 1 + (rng.Next(5) == 0 ? 20 : 0));
                var markerTerm = model.TryGetValue(index, out var at) ? at.Term : term;
                await log.SaveSnapshotMarkerAsync(index, markerTerm);
                marker = new WalSnapshotMarker(index, markerTerm);
                foreach (var k in model.Keys.Where(k => k <= index).ToList())
                {
                    model.Remove(k);
                }
            }
            else if (op < 90)
            {
                await log.ReleaseToAsync(marker.Index - (ulong)rng.Next(0, (int)Math.Min(3, marker.Index) + 1));
            }
            else
            {
                log.Dispose();
                log = Reopened(dir.Path, options, model, hs, marker);
            }
        }

        log.Dispose();
        Reopened(dir.Path, options, model, hs, marker).Dispose();
    }

    private static WriteAheadLog Reopened(string dir, WalOptions options, SortedDictionary<ulong, Entry> model, HardState hs, WalSnapshotMarker marker)
    {
        var r = WriteAheadLog.Open(dir, options);
        Assert.Equal(hs, r.HardState);
        Assert.Equal(marker, r.Snapshot);
        Assert.Equal(model.Values.ToArray(), r.Entries);
        Assert.Null(r.TornTail);
        return r.Log;
    }
}
