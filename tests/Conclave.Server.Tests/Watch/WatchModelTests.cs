using Conclave.Server.Watch;
using Conclave.Storage.Mvcc;
using static Conclave.Server.Tests.Watch.WatchFixture;

namespace Conclave.Server.Tests.Watch;

/// <summary>
/// Random interleavings of writes, partial reads, creates (live and from the past), cancels, compactions and
/// extra catch-up turns, with tiny buffers, checked against the committed batches: every watcher receives a
/// prefix of its expected history (all of it when still alive), once, in order, and nothing after its cancel.
/// </summary>
public sealed class WatchModelTests
{
    private sealed class Tracked(WatchStream stream, long id, string key, string end, WatchFilters filters, bool prevKv, long start)
    {
        public WatchStream Stream { get; } = stream;

        public long Id { get; } = id;

        public string Key { get; } = key;

        public string End { get; } = end;

        public WatchFilters Filters { get; } = filters;

        public bool PrevKv { get; } = prevKv;

        public long Start { get; } = start;

        public List<WatchResponse> Responses { get; } = [];

        public bool CanceledByClient { get; set; }

        public bool Ended => Responses.Any(r => r.Canceled);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public async Task Random_interleavings_deliver_each_watcher_a_gapless_duplicate_free_prefix_of_its_history(int seed)
    {
        await using var f = new WatchFixture(new WatchHubOptions { StreamBufferResponses = 3, CatchUpChunkEvents = 4 });
        var rng = new Random(seed);
        var history = new List<EventBatch>();
        var streams = Enumerable.Range(0, 3).Select(_ => f.Hub.OpenStream()).ToList();
        var watchers = new List<Tracked>();
        var compactions = new HashSet<long>();

        void Route(WatchStream s, WatchResponse r)
        {
            var w = watchers.Single(t => t.Stream == s && t.Id == r.WatchId && !t.Ended);
            w.Responses.Add(r);
        }

        for (var step = 0; step < 400; step++)
        {
            var action = rng.Next(100);
            if (action < 40)
            {
                using var t = f.Store.BeginWrite();
                var used = new HashSet<int>();
                for (var n = rng.Next(1, 4); n > 0; n--)
                {
                    var k = rng.Next(10);
                    if (!used.Add(k))
                    {
                        continue;
                    }
                    if (rng.Next(4) == 0)
                    {
                        t.DeleteRange(B($"k{k}"));
                    }
                    else
                    {
                        t.Put(B($"k{k}"), B($"v{step}"));
                    }
                }
                var batch = t.Commit();
                if (batch.Events.Count > 0)
                {
                    history.Add(batch);
                }
            }
            else if (action < 58)
            {
                var s = streams[rng.Next(streams.Count)];
                for (var n = rng.Next(1, 6); n > 0 && s.Responses.TryRead(out var r); n--)
                {
                    Route(s, r);
                }
            }
            else if (action < 68)
            {
                var s = streams[rng.Next(streams.Count)];
                var a = rng.Next(10);
                var (key, end) = rng.Next(3) switch
                {
                    0 => ($"k{a}", ""),
                    1 => ($"k{a}", $"k{(char)('0' + Math.Min(10, a + rng.Next(1, 5)))}"), // "k:" follows "k9"
                    _ => ("k", "l"),
                };
                var filters = (WatchFilters)rng.Next(3);
                var prevKv = rng.Next(2) == 0;
                var current = f.Store.CurrentRevision;
                var floor = Math.Max(2, f.Store.CompactRevision + 1);
                var start = rng.Next(2) == 0 || floor > current ? 0 : rng.NextInt64(floor, current + 1);
                var created = s.Create(new WatchCreateRequest { Key = B(key), RangeEnd = B(end), StartRevision = start, Filters = filters, PrevKv = prevKv });
                Assert.Equal(WatchCreateStatus.Ok, created.Status);
                watchers.Add(new Tracked(s, created.WatchId, key, end, filters, prevKv, start == 0 ? current + 1 : start));
            }
            else if (action < 72)
            {
                var alive = watchers.Where(w => !w.CanceledByClient).ToList();
                if (alive.Count > 0)
                {
                    var w = alive[rng.Next(alive.Count)];
                    w.CanceledByClient = true;
                    w.Stream.Cancel(w.Id);
                }
            }
            else if (action < 75)
            {
                // Compact at a revision that only touches a key no watcher watches, so that the retained view of
                // the compaction revision (no deletes, no prev kvs) is never part of what a watcher should get.
                var c = f.Put("zz", $"{step}");
                Assert.Equal(MvccStatus.Ok, f.Store.Compact(c));
                compactions.Add(c);
                f.Hub.CompactionApplied();
            }
            else if (action < 85)
            {
                f.Hub.CatchUpTurn();
            }
        }

        // Drain: read until every watcher that is still alive has its whole history.
        var expected = watchers.ToDictionary(w => w, w => Expected(history, w));
        foreach (var s in streams)
        {
            bool Complete() => watchers.Where(w => w.Stream == s && !w.CanceledByClient && !w.Ended)
                .All(w => w.Responses.Count > 0 && w.Responses.Sum(r => r.Events.Count) >= expected[w].Count) &&
                watchers.Where(w => w.Stream == s && w.CanceledByClient).All(w => w.Ended);
            while (!Complete())
            {
                Route(s, await ReadAsync(s, "the rest of every watcher's history"));
            }
        }

        foreach (var w in watchers)
        {
            var what = $"seed {seed}, watcher {w.Id} ({w.Key}, {w.End}) from {w.Start}";
            Assert.True(w.Responses[0].Created, $"{what}: first response is not created");
            var canceledAt = w.Responses.FindIndex(r => r.Canceled);
            Assert.True(canceledAt < 0 || canceledAt == w.Responses.Count - 1, $"{what}: responses after the cancel");
            var got = w.Responses.Skip(1).SelectMany(r => r.Events).Select(Describe).ToList();
            var want = expected[w];
            Assert.True(got.Count <= want.Count, $"{what}: {got.Count} events, history has {want.Count}");
            Assert.Equal(want.Take(got.Count), got);
            if (canceledAt > 0 && w.Responses[canceledAt].CompactRevision != 0)
            {
                var compact = w.Responses[canceledAt].CompactRevision;
                Assert.Contains(compact, compactions);
                // Canceled because the revision it needed next (at most one past its last event) was compacted away.
                var lastHad = got.Count == 0 ? w.Start - 1 : long.Parse(got[^1].Split('@')[1].Split(' ')[0]);
                Assert.True(lastHad < compact, $"{what}: canceled at {compact} after an event at {lastHad}");
            }
            else if (!w.CanceledByClient)
            {
                Assert.Equal(want, got);
            }
        }
    }

    private static List<string> Expected(List<EventBatch> history, Tracked w) =>
        history.Where(b => b.Revision >= w.Start)
            .SelectMany(b => b.Events)
            .Where(e => KeyRange.Contains(B(w.Key), B(w.End), e.Kv.Key.Span))
            .Where(e => e.Type == EventType.Put ? (w.Filters & WatchFilters.NoPut) == 0 : (w.Filters & WatchFilters.NoDelete) == 0)
            .Select(e => Describe(w.PrevKv ? e : e with { PrevKv = null }))
            .ToList();
}
