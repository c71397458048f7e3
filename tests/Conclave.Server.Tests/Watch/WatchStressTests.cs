using Conclave.Server.Watch;
using static Conclave.Server.Tests.Watch.WatchFixture;

namespace Conclave.Server.Tests.Watch;

/// <summary>
/// One writer (the apply thread) and several streams read at different speeds, with tiny buffers so that
/// watchers keep moving between the groups. Every watcher must receive exactly the store's history of its
/// range, once, in order, each revision whole unless fragmented.
/// </summary>
public sealed class WatchStressTests
{
    private const int Ops = 1500;
    private const int Capacity = 4;

    private sealed record Spec(string Key, string End, WatchFilters Filters = WatchFilters.None, bool PrevKv = false, bool Fragment = false);

    private static readonly Spec[] Fast =
    [
        new("k", "l", PrevKv: true),
        new("k1", "k2"),
        new("k3", ""),
        new("k2", "k5", WatchFilters.NoPut, PrevKv: true),
        new("", "\0", Fragment: true),
    ];

    private static readonly Spec[] Slow =
    [
        new("k", "l", PrevKv: true),
        new("k2", "k5", WatchFilters.NoDelete),
        new("k3", ""),
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Concurrent_writer_and_readers_get_every_event_exactly_once_in_order(int seed)
    {
        await using var f = new WatchFixture(new WatchHubOptions
        {
            StreamBufferResponses = Capacity,
            CatchUpChunkEvents = 7,
            MaxResponseBytes = 300,
        });
        var eager = Open(f, Fast);
        var yielding = Open(f, Fast);
        var slow = Open(f, Slow);
        var half = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var writer = Task.Run(() =>
        {
            var rng = new Random(seed);
            for (var i = 0; i < Ops; i++)
            {
                f.Write(t =>
                {
                    var n = rng.Next(4) == 0 ? rng.Next(2, 5) : 1;
                    var used = new HashSet<string>();
                    for (var j = 0; j < n; j++)
                    {
                        var k = $"k{rng.Next(20)}";
                        if (!used.Add(k))
                        {
                            continue;
                        }
                        if (rng.Next(5) == 0)
                        {
                            t.DeleteRange(B(k));
                        }
                        else
                        {
                            t.Put(B(k), B(new string('v', rng.Next(0, 120))));
                        }
                    }
                });
                if (i == Ops / 2)
                {
                    half.SetResult();
                }
            }
            f.Put("k4", "pre-end");
            var final = f.Write(t =>
            {
                t.Put(B("k1"), B("end"));
                t.Put(B("k3"), B("end"));
                t.DeleteRange(B("k4"));
            });
            return final;
        });

        // A watcher created mid-run with a past start revision replays while commits keep coming.
        var late = Task.Run(async () =>
        {
            await half.Task;
            var id = yielding.Stream.Create(Req("k", "l", start: 2) with { PrevKv = true }).WatchId;
            return (id, new Spec("k", "l", PrevKv: true));
        });

        var finalRevision = writer.ContinueWith(t => t.Result, TaskScheduler.Default);
        var readers = new[]
        {
            ReadAllAsync(eager, finalRevision, yieldEvery: 0, start: null, extra: null),
            ReadAllAsync(yielding, finalRevision, yieldEvery: 1, start: null, extra: late),
            ReadAllAsync(slow, finalRevision, yieldEvery: 3, start: slowGo.Task, extra: null),
        };
        await writer.WaitAsync(TimeSpan.FromSeconds(60));
        // The slow stream has not read anything: its queue is at the bound, its watchers wait in the catch-up group.
        Assert.InRange(slow.Stream.Pending, 1, Capacity);
        slowGo.SetResult();
        var results = await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60));

        foreach (var (specs, got) in results)
        {
            foreach (var (id, spec) in specs)
            {
                var expected = f.Expected(spec.Key, spec.End, 2, spec.PrevKv, spec.Filters);
                Assert.True(expected.Count > 10, $"seed {seed}: too few events for {spec} to mean anything");
                Assert.Equal(expected, got[id]);
            }
        }
        Assert.Equal((Fast.Length * 2 + Slow.Length + 1, 0), f.Hub.GroupSizes);
    }

    /// <summary>
    /// The reader of the stress test may read the final revision's response before the writer task has returned
    /// that revision (a loaded machine, once in many runs): it must then finish when the writer's result comes
    /// instead of waiting for a response that never will.
    /// </summary>
    [Fact]
    public async Task Reader_finishes_when_the_final_revision_is_known_only_after_its_last_response()
    {
        await using var f = new WatchFixture();
        var opened = Open(f, [new Spec("k", "l")]);
        long last = 0;
        for (var i = 0; i < 12; i++)
        {
            last = f.Put($"k{i}", $"v{i}");
        }
        var final = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);

        // Every response is queued already: the reader takes them all synchronously, then waits.
        var reading = ReadAllAsync(opened, final.Task, yieldEvery: 0, start: null, extra: null);
        Assert.False(reading.IsCompleted, "the reader finished before the final revision was known");
        Assert.Equal(0, opened.Stream.Pending);
        final.SetResult(last);

        Dictionary<long, List<string>> events;
        try
        {
            (_, events) = await reading.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("the reader did not finish once the final revision was known; it waits for a response that never comes");
        }
        var id = Assert.Single(opened.Watchers).Id;
        Assert.Equal(f.Expected("k", "l", 2), events[id]);
        Assert.Equal(12, events[id].Count);
    }

    private sealed record Opened(WatchStream Stream, List<(long Id, Spec Spec)> Watchers);

    private static Opened Open(WatchFixture f, Spec[] specs)
    {
        var s = f.Hub.OpenStream();
        var list = new List<(long, Spec)>();
        foreach (var spec in specs)
        {
            var r = s.Create(new WatchCreateRequest
            {
                Key = B(spec.Key),
                RangeEnd = B(spec.End),
                Filters = spec.Filters,
                PrevKv = spec.PrevKv,
                Fragment = spec.Fragment,
            });
            Assert.Equal(WatchCreateStatus.Ok, r.Status);
            list.Add((r.WatchId, spec));
        }
        return new Opened(s, list);
    }

    /// <summary>
    /// Reads until every watcher of the stream has had a whole (non-fragment) response reaching the final
    /// revision, checking the framing rules on the way. Returns the events per watcher.
    /// </summary>
    private static async Task<(List<(long Id, Spec Spec)> Specs, Dictionary<long, List<string>> Events)> ReadAllAsync(
        Opened opened, Task<long> finalRevision, int yieldEvery, Task? start, Task<(long Id, Spec Spec)>? extra)
    {
        if (start is not null)
        {
            await start;
        }
        var specs = new List<(long Id, Spec Spec)>(opened.Watchers);
        var events = specs.ToDictionary(w => w.Id, _ => new List<string>());
        var created = new HashSet<long>();
        var lastRevision = new Dictionary<long, long>();
        var lastWasFragment = new Dictionary<long, bool>();
        var n = 0;
        while (true)
        {
            if (extra is { IsCompleted: true } && !events.ContainsKey(extra.Result.Id))
            {
                specs.Add(extra.Result);
                events.Add(extra.Result.Id, []);
            }
            // A watcher is done once its last response was whole and reached the final revision (which the
            // reader may see before the writer task has returned it).
            if (finalRevision.IsCompleted && (extra is null || (extra.IsCompleted && events.ContainsKey(extra.Result.Id))) &&
                specs.All(w => lastRevision.GetValueOrDefault(w.Id) == finalRevision.Result && !lastWasFragment[w.Id]))
            {
                return (specs, events);
            }
            var expected = $"more responses; last revisions {string.Join(", ", lastRevision)}";
            // The last response may have been read before the writer task returned the final revision: then no
            // response comes, so wait for whichever is first and check again when it is the writer's result.
            if (!finalRevision.IsCompleted && !await WaitForResponseOrAsync(opened.Stream, finalRevision, expected))
            {
                continue;
            }
            var r = await ReadAsync(opened.Stream, expected);
            if (yieldEvery > 0 && ++n % yieldEvery == 0)
            {
                await Task.Yield();
            }
            Assert.False(r.Canceled, $"unexpected cancel {r}");
            if (r.Created)
            {
                Assert.True(created.Add(r.WatchId), $"second created response for {r.WatchId}");
                continue;
            }
            Assert.Contains(r.WatchId, created);
            Assert.NotEmpty(r.Events);
            if (!events.TryGetValue(r.WatchId, out var list))
            {
                // Events of the late watcher can come before its create call has returned to its task.
                var late = await extra!;
                Assert.Equal(late.Id, r.WatchId);
                specs.Add(late);
                events.Add(late.Id, list = []);
            }
            var first = r.Events[0].Kv.ModRevision;
            if (lastRevision.TryGetValue(r.WatchId, out var prev))
            {
                // Responses never split a revision, unless the previous one was a fragment of it.
                Assert.True(lastWasFragment[r.WatchId] ? first >= prev : first > prev, $"watcher {r.WatchId}: revision {first} after {prev}");
            }
            for (var i = 1; i < r.Events.Count; i++)
            {
                Assert.True(r.Events[i].Kv.ModRevision >= r.Events[i - 1].Kv.ModRevision, "events out of revision order");
            }
            var last = r.Events[^1].Kv.ModRevision;
            Assert.True(r.Revision >= last, $"header revision {r.Revision} below event revision {last}");
            lastRevision[r.WatchId] = last;
            lastWasFragment[r.WatchId] = r.Fragment;
            list.AddRange(r.Events.Select(Describe));
        }
    }
}
