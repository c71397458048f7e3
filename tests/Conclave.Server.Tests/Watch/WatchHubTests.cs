using Conclave.Server.Watch;
using Conclave.Storage.Mvcc;
using static Conclave.Server.Tests.Watch.WatchFixture;

namespace Conclave.Server.Tests.Watch;

public sealed class WatchHubTests
{
    /// <summary>
    /// Two unsynced watchers of one stream in one catch-up turn: A finds the queue full and arms the stream's
    /// wake; the reader then counts a read that brings the queue below the resume mark, and before it tests the
    /// wake request B arms and finds room. A was already passed in this turn, so that read must still wake the
    /// loop (it once did not: B's arm cleared the shared request, and A stalled until some unrelated wake).
    /// </summary>
    [Fact]
    public async Task Arm_that_finds_room_keeps_the_wake_request_of_a_watcher_skipped_before_it()
    {
        using var store = new MvccStore();
        // Not started: no loop takes the wakes, so the test sees them queued.
        await using var hub = new WatchHub(store, new WatchHubOptions { StreamBufferResponses = 4 });
        var s = new WatchStream(hub, capacity: 4);
        for (var i = 0; i < 3; i++)
        {
            s.Enqueue(new WatchResponse { WatchId = i, Revision = 1 });
        }
        Assert.False(s.ArmCatchUpWake(), "watcher A: 3 of 4 queued is not below the resume mark 2");

        var bArmed = false;
        s.AfterReadCounted = () =>
        {
            if (s.Pending == 1)
            {
                bArmed = true;
                Assert.True(s.ArmCatchUpWake(), "watcher B: 1 queued is below the resume mark");
            }
        };
        Assert.True(s.Responses.TryRead(out _));
        Assert.Equal(0, hub.QueuedWakes);
        Assert.True(s.Responses.TryRead(out _));
        Assert.True(bArmed);
        Assert.True(hub.QueuedWakes == 1, "the read that brought the queue below the resume mark did not wake the catch-up loop for watcher A");
    }

    [Fact]
    public async Task Single_key_watcher_gets_only_its_key_one_response_per_revision()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        var created = s.Create(Req("a"));
        Assert.Equal(new WatchCreateResult(WatchCreateStatus.Ok, 0), created);
        var c = await ReadAsync(s, "created");
        Assert.True(c.Created);
        Assert.Equal(1, c.Revision);

        var r1 = f.Put("a", "1");
        f.Put("b", "1");
        f.Put("ab", "1");
        var r4 = f.Delete("a");
        var last = f.Put("a", "2");

        var e1 = await ReadAsync(s, "put a");
        Assert.Equal(r1, e1.Revision);
        Assert.Equal(["PUT a@2"], e1.Events.Select(Describe));
        var e2 = await ReadAsync(s, "delete a");
        Assert.Equal(r4, e2.Revision);
        Assert.Equal(["DELETE a@5"], e2.Events.Select(Describe));
        Assert.Equal(0, e2.Events[0].Kv.CreateRevision);
        var e3 = await ReadAsync(s, "put a again");
        Assert.Equal(["PUT a@6"], e3.Events.Select(Describe));
        Assert.Equal(last, e3.Revision);
        Assert.False(s.Responses.TryPeek(out var extra), $"unexpected {extra}");
    }

    [Fact]
    public async Task Prefix_range_and_from_key_watchers_match_etcd_range_rules()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        var prefix = s.Create(Req("p/", S(KeyRange.PrefixEnd(B("p/"))))).WatchId;
        var range = s.Create(Req("b", "d")).WatchId;
        var fromKey = s.Create(Req("c", "\0")).WatchId;
        var all = s.Create(Req("", "\0")).WatchId;
        var singleZero = s.Create(Req("")).WatchId; // key "" is read as "\0": only that key
        Assert.Equal([0L, 1, 2, 3, 4], new[] { prefix, range, fromKey, all, singleZero });
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await ReadAsync(s, "created")).Created);
        }

        foreach (var k in new[] { "a", "b", "c", "d", "p", "p/", "p/x", "p0", "\0" })
        {
            f.Put(k, "v");
        }

        var got = new Dictionary<long, List<string>>();
        while (s.Responses.TryRead(out var r))
        {
            Assert.Single(r.Events);
            got.TryAdd(r.WatchId, []);
            got[r.WatchId].Add(S(r.Events[0].Kv.Key));
        }
        Assert.Equal(["p/", "p/x"], got[prefix]);
        Assert.Equal(["b", "c"], got[range]);
        Assert.Equal(["c", "d", "p", "p/", "p/x", "p0"], got[fromKey]);
        Assert.Equal(["a", "b", "c", "d", "p", "p/", "p/x", "p0", "\0"], got[all]);
        Assert.Equal(["\0"], got[singleZero]);
    }

    [Fact]
    public async Task Events_of_one_revision_come_in_one_response_in_sub_revision_order()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        s.Create(Req("k", "l"));
        await ExpectCreatedAsync(s, 0);
        f.Put("k1", "x");
        var rev = f.Write(t =>
        {
            t.Put(B("k3"), B("a"));
            t.Put(B("z"), B("a"));
            t.DeleteRange(B("k1"));
            t.Put(B("k2"), B("a"));
        });
        await ReadAsync(s, "put k1");
        var r = await ReadAsync(s, "the txn");
        Assert.Equal(rev, r.Revision);
        Assert.Equal(["PUT k3@3", "DELETE k1@3", "PUT k2@3"], r.Events.Select(Describe));
    }

    [Fact]
    public async Task Past_start_revision_replays_exactly_the_history_then_goes_live()
    {
        await using var f = new WatchFixture(new WatchHubOptions { CatchUpChunkEvents = 3 });
        var rng = new Random(11);
        for (var i = 0; i < 60; i++)
        {
            var k = $"k{rng.Next(6)}";
            if (rng.Next(4) == 0)
            {
                f.Delete(k);
            }
            else
            {
                f.Write(t =>
                {
                    t.Put(B(k), B($"v{i}"));
                    t.Put(B($"k{rng.Next(6)}x"), B("w"));
                });
            }
        }
        var current = f.Store.CurrentRevision;
        using var s = f.Hub.OpenStream();
        var id = s.Create(Req("k2", "k4", start: 7) with { PrevKv = true }).WatchId;
        await ExpectCreatedAsync(s, id);
        var expected = f.Expected("k2", "k4", 7, prevKv: true);
        var got = await ReadEventsUntilAsync(s, id, f.Store.EventsSince(7, B("k2"), B("k4")).Events[^1].Kv.ModRevision);
        Assert.Equal(expected, got);

        var live = f.Put("k3", "live");
        Assert.Equal(current + 1, live);
        var r = await ReadAsync(s, "the live put");
        Assert.Equal([$"PUT k3@{live} prev@{r.Events[0].PrevKv?.ModRevision}"], r.Events.Select(Describe));
        Assert.Equal((1, 0), f.Hub.GroupSizes);
    }

    [Fact]
    public async Task Start_revision_in_the_future_waits_for_it()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        s.Create(Req("a", start: 4));
        await ExpectCreatedAsync(s, 0);
        f.Put("a", "1");
        f.Put("a", "2");
        Assert.False(s.Responses.TryPeek(out var early), $"unexpected {early}");
        f.Put("a", "3");
        var r = await ReadAsync(s, "revision 4");
        Assert.Equal(["PUT a@4"], r.Events.Select(Describe));
    }

    [Fact]
    public async Task Filters_drop_puts_or_deletes_and_prev_kv_is_sent_only_when_asked()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        var noPut = s.Create(Req("a") with { Filters = WatchFilters.NoPut, PrevKv = true }).WatchId;
        var noDelete = s.Create(Req("a") with { Filters = WatchFilters.NoDelete }).WatchId;
        var plain = s.Create(Req("a")).WatchId;
        for (var i = 0; i < 3; i++)
        {
            await ReadAsync(s, "created");
        }
        f.Put("a", "1");
        f.Put("a", "2");
        f.Delete("a");
        var got = new Dictionary<long, List<string>> { [noPut] = [], [noDelete] = [], [plain] = [] };
        while (s.Responses.TryRead(out var r))
        {
            got[r.WatchId].AddRange(r.Events.Select(Describe));
        }
        Assert.Equal(["DELETE a@4 prev@3"], got[noPut]);
        Assert.Equal(["PUT a@2", "PUT a@3"], got[noDelete]);
        Assert.Equal(["PUT a@2", "PUT a@3", "DELETE a@4"], got[plain]);
    }

    [Fact]
    public async Task Many_watchers_on_many_streams_each_get_their_own_events()
    {
        // Buffers large enough that nobody overflows: this is about matching; overflow has its own tests.
        await using var f = new WatchFixture(new WatchHubOptions { StreamBufferResponses = 10_000 });
        var rng = new Random(5);
        var streams = Enumerable.Range(0, 8).Select(_ => f.Hub.OpenStream()).ToList();
        var watchers = new List<(WatchStream S, long Id, string Key, string End)>();
        foreach (var s in streams)
        {
            for (var j = 0; j < 6; j++)
            {
                var a = rng.Next(10);
                var (key, end) = rng.Next(3) switch
                {
                    0 => ($"k{a}", ""),
                    1 => ($"k{a}", $"k{a + rng.Next(1, 4)}"),
                    _ => ($"k{a}", "\0"),
                };
                var id = s.Create(Req(key, end) with { PrevKv = true }).WatchId;
                watchers.Add((s, id, key, end));
            }
        }
        for (var i = 0; i < 200; i++)
        {
            var k = $"k{rng.Next(12)}";
            if (rng.Next(5) == 0)
            {
                f.Delete(k);
            }
            else
            {
                f.Put(k, $"v{i}");
            }
        }
        foreach (var s in streams)
        {
            var got = new Dictionary<long, List<string>>();
            while (s.Responses.TryRead(out var r))
            {
                if (!r.Created)
                {
                    got.TryAdd(r.WatchId, []);
                    got[r.WatchId].AddRange(r.Events.Select(Describe));
                }
            }
            foreach (var w in watchers.Where(w => w.S == s))
            {
                Assert.Equal(f.Expected(w.Key, w.End, 2, prevKv: true), got.GetValueOrDefault(w.Id, []));
            }
            s.Dispose();
        }
        Assert.Equal((0, 0), f.Hub.GroupSizes);
    }

    [Fact]
    public async Task Slow_stream_moves_to_catch_up_and_then_gets_every_event_once_in_order_while_others_stay_live()
    {
        await using var f = new WatchFixture(new WatchHubOptions { StreamBufferResponses = 4, CatchUpChunkEvents = 5 });
        using var slow = f.Hub.OpenStream();
        using var fast = f.Hub.OpenStream();
        var slowId = slow.Create(Req("k", "l") with { PrevKv = true }).WatchId;
        var fastId = fast.Create(Req("k", "l")).WatchId;
        await ExpectCreatedAsync(fast, fastId);

        var fastGot = new List<string>();
        long last = 0;
        for (var i = 0; i < 100; i++)
        {
            last = i % 7 == 6 ? f.Delete($"k{i % 5}") : f.Put($"k{i % 5}", $"v{i}");
            if (last == 0)
            {
                continue;
            }
            var r = await ReadAsync(fast, $"live event at revision {last}");
            fastGot.AddRange(r.Events.Select(Describe));
        }
        Assert.Equal(f.Expected("k", "l", 2), fastGot);
        // The slow stream holds its created response and 3 event responses; its watcher waits in the catch-up group.
        Assert.Equal(4, slow.Pending);
        Assert.Equal((1, 1), f.Hub.GroupSizes);

        await ExpectCreatedAsync(slow, slowId);
        var slowGot = await ReadEventsUntilAsync(slow, slowId, last);
        Assert.Equal(f.Expected("k", "l", 2, prevKv: true), slowGot);

        // Exactly once: the next thing on the slow stream is the next revision, nothing replayed.
        var sentinel = f.Put("k9", "end");
        var next = await ReadAsync(slow, "the sentinel put");
        Assert.Equal([$"PUT k9@{sentinel}"], next.Events.Select(Describe));
        Assert.Equal((2, 0), f.Hub.GroupSizes);
    }

    [Fact]
    public async Task Catch_up_that_reads_a_revision_before_the_hub_has_seen_its_commit_does_not_deliver_it_twice()
    {
        // The store publishes revision X, then calls its subscribers. A subscriber registered before the hub
        // runs a catch-up turn in that window: history already holds X while the hub's last revision is X - 1.
        var store = new MvccStore();
        var hub = new WatchHub(store, new WatchHubOptions { StreamBufferResponses = 2 });
        WatchStream? s = null;
        long x = 0;
        using var probe = store.Subscribe(batch =>
        {
            if (batch.Revision == x)
            {
                Assert.True(s!.Responses.TryRead(out var created) && created.Created);
                hub.CatchUpTurn();
            }
        });
        hub.Start();
        for (var i = 0; i < 5; i++)
        {
            Put(store, "a", $"{i}");
        }
        s = hub.OpenStream();
        var id = s.Create(Req("a", start: 2)).WatchId;
        Assert.Equal((0, 1), hub.GroupSizes); // the created response leaves no room to catch up
        x = store.CurrentRevision + 1;
        Assert.Equal(x, Put(store, "a", "x"));
        var sentinel = Put(store, "a", "end");

        var got = await ReadEventsUntilAsync(s, id, sentinel);
        Assert.Equal(Enumerable.Range(2, (int)(sentinel - 1)).Select(r => $"PUT a@{r}"), got);
        s.Dispose();
        await hub.DisposeAsync();
        store.Dispose();
    }

    [Fact]
    public async Task Resync_after_a_snapshot_restore_feeds_synced_watchers_from_the_restored_history()
    {
        using var leader = new MvccStore();
        for (var i = 0; i < 8; i++)
        {
            Put(leader, $"k{i % 3}", $"{i}");
        }
        var snapshot = new MemoryStream();
        leader.WriteSnapshot(snapshot);

        await using var f = new WatchFixture();
        f.Put("k0", "old");
        using var s = f.Hub.OpenStream();
        var id = s.Create(Req("k", "l")).WatchId;
        await ExpectCreatedAsync(s, id);
        snapshot.Position = 0;
        f.Store.Restore(snapshot);
        f.Hub.Resync();
        Assert.Equal(leader.CurrentRevision, f.Hub.Revision);

        // The watcher had everything up to 2; it gets revisions 3.. of the restored history, then live events.
        var got = await ReadEventsUntilAsync(s, id, leader.CurrentRevision);
        Assert.Equal(Enumerable.Range(3, (int)leader.CurrentRevision - 2).Select(r => $"PUT k{(r - 2) % 3}@{r}"), got);
        var live = f.Put("k1", "live");
        Assert.Equal([$"PUT k1@{live}"], (await ReadAsync(s, "live event")).Events.Select(Describe));
    }

    private static long Put(MvccStore store, string key, string value)
    {
        using var t = store.BeginWrite();
        t.Put(B(key), B(value));
        return t.Commit().Revision;
    }

    [Fact]
    public async Task Compaction_while_unsynced_cancels_the_watcher_with_the_compact_revision()
    {
        await using var f = new WatchFixture(new WatchHubOptions { StreamBufferResponses = 3 });
        using var s = f.Hub.OpenStream();
        var id = s.Create(Req("a")).WatchId;
        for (var i = 0; i < 10; i++)
        {
            f.Put("a", $"{i}");
        }
        Assert.Equal((0, 1), f.Hub.GroupSizes);
        var compactAt = f.Store.CurrentRevision - 2;
        Assert.Equal(MvccStatus.Ok, f.Store.Compact(compactAt));

        await ExpectCreatedAsync(s, id);
        Assert.Equal(["PUT a@2"], (await ReadAsync(s, "first event")).Events.Select(Describe));
        Assert.Equal(["PUT a@3"], (await ReadAsync(s, "second event")).Events.Select(Describe));
        var canceled = await ReadAsync(s, "compaction cancel");
        Assert.True(canceled.Canceled, $"expected a cancel, got {canceled}");
        Assert.Equal(compactAt, canceled.CompactRevision);
        Assert.Equal(id, canceled.WatchId);
        Assert.Equal((0, 0), f.Hub.GroupSizes);

        // The id is free again and a watch from the compaction revision works.
        var again = s.Create(Req("a", start: compactAt));
        Assert.Equal(WatchCreateStatus.Ok, again.Status);
        await ExpectCreatedAsync(s, again.WatchId);
        var replay = await ReadEventsUntilAsync(s, again.WatchId, f.Store.CurrentRevision);
        Assert.Equal([$"PUT a@{compactAt}", $"PUT a@{compactAt + 1}", $"PUT a@{compactAt + 2}"], replay);
    }

    [Fact]
    public async Task Compaction_cancels_a_watcher_that_waits_for_its_reader_without_the_reader_reading()
    {
        await using var f = new WatchFixture(new WatchHubOptions { StreamBufferResponses = 3 });
        using var s = f.Hub.OpenStream();
        var id = s.Create(Req("a")).WatchId;
        for (var i = 0; i < 10; i++)
        {
            f.Put("a", $"{i}");
        }
        var compactAt = f.Store.CurrentRevision;
        Assert.Equal(MvccStatus.Ok, f.Store.Compact(compactAt));
        f.Hub.CompactionApplied();
        f.Hub.CatchUpTurn(); // what the woken loop does, run here so that the outcome is known on return
        Assert.Equal((0, 0), f.Hub.GroupSizes);
        Assert.Equal(4, s.Pending);
        for (var i = 0; i < 3; i++)
        {
            await ReadAsync(s, "created or event");
        }
        var canceled = await ReadAsync(s, "compaction cancel");
        Assert.Equal(id, canceled.WatchId);
        Assert.Equal(compactAt, canceled.CompactRevision);
    }

    [Fact]
    public async Task Start_revision_below_the_compaction_revision_is_canceled_after_created()
    {
        await using var f = new WatchFixture();
        for (var i = 0; i < 6; i++)
        {
            f.Put("a", $"{i}");
        }
        Assert.Equal(MvccStatus.Ok, f.Store.Compact(5));
        using var s = f.Hub.OpenStream();
        var id = s.Create(Req("a", start: 4)).WatchId;
        await ExpectCreatedAsync(s, id);
        var r = await ReadAsync(s, "compaction cancel");
        Assert.True(r.Canceled);
        Assert.Equal(5, r.CompactRevision);
        Assert.Empty(r.Events);
        Assert.False(r.IsProgressNotify);
    }

    [Fact]
    public async Task Progress_notify_after_an_interval_without_events_for_synced_watchers_that_asked()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        var notify = s.Create(Req("a") with { ProgressNotify = true }).WatchId;
        var quiet = s.Create(Req("b")).WatchId;
        await ExpectCreatedAsync(s, notify);
        await ExpectCreatedAsync(s, quiet);
        f.Put("x", "1");

        f.Time.Advance(TimeSpan.FromMinutes(9));
        Assert.False(s.Responses.TryPeek(out var early), $"unexpected {early}");
        f.Time.Advance(TimeSpan.FromMinutes(1));
        var p = await ReadAsync(s, "progress notification");
        Assert.True(p.IsProgressNotify, $"expected progress, got {p}");
        Assert.Equal(notify, p.WatchId);
        Assert.Equal(2, p.Revision);
        Assert.False(s.Responses.TryPeek(out var extra), $"unexpected {extra}");

        // An interval with an event: no notification at its end, one at the end of the next quiet one.
        f.Put("a", "1");
        Assert.Single((await ReadAsync(s, "put a")).Events);
        f.Time.Advance(TimeSpan.FromMinutes(10));
        Assert.False(s.Responses.TryPeek(out var notDue), $"unexpected {notDue}");
        f.Time.Advance(TimeSpan.FromMinutes(10));
        var p2 = await ReadAsync(s, "second progress notification");
        Assert.True(p2.IsProgressNotify);
        Assert.Equal(3, p2.Revision);
    }

    [Fact]
    public async Task Request_progress_answers_at_once_when_all_synced_and_after_catch_up_otherwise()
    {
        await using var f = new WatchFixture(new WatchHubOptions { StreamBufferResponses = 3, CatchUpChunkEvents = 2 });
        using var s = f.Hub.OpenStream();
        s.RequestProgress();
        Assert.Equal(0, s.Pending); // no watchers: no answer (as etcd)

        var id = s.Create(Req("a")).WatchId;
        await ExpectCreatedAsync(s, id);
        s.RequestProgress();
        var p = await ReadAsync(s, "progress");
        Assert.Equal(WatchResponse.StreamWatchId, p.WatchId);
        Assert.Equal(1, p.Revision);
        Assert.True(p.IsProgressNotify);

        for (var i = 0; i < 12; i++)
        {
            f.Put("a", $"{i}");
        }
        Assert.Equal((0, 1), f.Hub.GroupSizes);
        var queued = s.Pending;
        s.RequestProgress();
        s.RequestProgress();
        Assert.Equal(queued, s.Pending);

        var events = await ReadEventsUntilAsync(s, id, f.Store.CurrentRevision);
        Assert.Equal(12, events.Count);
        var late = await ReadAsync(s, "deferred progress after catch-up");
        Assert.Equal(WatchResponse.StreamWatchId, late.WatchId);
        Assert.Equal(f.Store.CurrentRevision, late.Revision);
        var sentinel = f.Put("a", "end");
        Assert.Equal(sentinel, (await ReadAsync(s, "the sentinel, not a second progress")).Events[0].Kv.ModRevision);
    }

    [Fact]
    public async Task Cancel_sends_canceled_and_stops_events_unknown_id_is_ignored()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        var a = s.Create(Req("a")).WatchId;
        var b = s.Create(Req("b")).WatchId;
        await ExpectCreatedAsync(s, a);
        await ExpectCreatedAsync(s, b);
        f.Put("a", "1");
        Assert.True(s.Cancel(a));
        Assert.False(s.Cancel(a));
        Assert.False(s.Cancel(42));
        f.Put("a", "2");
        f.Put("b", "1");

        Assert.Equal(["PUT a@2"], (await ReadAsync(s, "put a")).Events.Select(Describe));
        var c = await ReadAsync(s, "canceled");
        Assert.True(c.Canceled);
        Assert.Equal(a, c.WatchId);
        Assert.Equal(2, c.Revision);
        var r = await ReadAsync(s, "put b");
        Assert.Equal(b, r.WatchId);
        Assert.False(s.Responses.TryPeek(out var extra), $"unexpected {extra}");
        Assert.Equal((1, 0), f.Hub.GroupSizes);
    }

    [Fact]
    public async Task Watch_ids_chosen_or_assigned_are_unique_per_stream()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        using var other = f.Hub.OpenStream();
        Assert.Equal(new WatchCreateResult(WatchCreateStatus.Ok, 1), s.Create(Req("a") with { WatchId = 1 }));
        Assert.Equal(0, s.Create(Req("a")).WatchId);
        Assert.Equal(2, s.Create(Req("a")).WatchId);
        Assert.Equal(new WatchCreateResult(WatchCreateStatus.DuplicateWatchId, -1), s.Create(Req("b") with { WatchId = 2 }));
        Assert.Equal(2, other.Create(Req("a") with { WatchId = 2 }).WatchId);

        for (var i = 0; i < 3; i++)
        {
            await ReadAsync(s, "created");
        }
        var dup = await ReadAsync(s, "failed create");
        Assert.True(dup.Created && dup.Canceled);
        Assert.Equal(-1, dup.WatchId);
        Assert.Equal("mvcc: duplicate watch ID provided on the WatchStream", dup.CancelReason);

        Assert.True(s.Cancel(2));
        await ReadAsync(s, "canceled");
        Assert.Equal(WatchCreateStatus.Ok, s.Create(Req("b") with { WatchId = 2 }).Status);
        Assert.Equal(3, s.Create(Req("b")).WatchId);
    }

    [Fact]
    public async Task Empty_range_is_refused()
    {
        await using var f = new WatchFixture();
        using var s = f.Hub.OpenStream();
        Assert.Equal(WatchCreateStatus.EmptyRange, s.Create(Req("b", "a")).Status);
        Assert.Equal(WatchCreateStatus.EmptyRange, s.Create(Req("b", "b")).Status);
        var r = await ReadAsync(s, "failed create");
        Assert.True(r.Created && r.Canceled);
        Assert.Equal("mvcc: watcher range is empty", r.CancelReason);
        Assert.Equal((0, 0), f.Hub.GroupSizes);
    }

    [Fact]
    public async Task Large_response_is_fragmented_only_for_watchers_that_asked()
    {
        await using var f = new WatchFixture(new WatchHubOptions { MaxResponseBytes = 10_000, EventOverheadBytes = 64 });
        using var s = f.Hub.OpenStream();
        var frag = s.Create(Req("k", "l") with { Fragment = true }).WatchId;
        var whole = s.Create(Req("k", "l")).WatchId;
        await ExpectCreatedAsync(s, frag);
        await ExpectCreatedAsync(s, whole);
        var value = new string('v', 3000);
        var rev = f.Write(t =>
        {
            for (var i = 0; i < 10; i++)
            {
                t.Put(B($"k{i}"), B(value));
            }
        });

        var fragments = new List<WatchResponse>();
        WatchResponse? wholeResponse = null;
        while (s.Responses.TryRead(out var r))
        {
            if (r.WatchId == frag)
            {
                fragments.Add(r);
            }
            else
            {
                wholeResponse = r;
            }
        }
        Assert.NotNull(wholeResponse);
        Assert.Equal(10, wholeResponse.Events.Count);
        Assert.False(wholeResponse.Fragment);
        // 3066 estimated bytes per event: three fit under 10 000.
        Assert.Equal([3, 3, 3, 1], fragments.Select(r => r.Events.Count));
        Assert.Equal([true, true, true, false], fragments.Select(r => r.Fragment));
        Assert.All(fragments, r => Assert.Equal(rev, r.Revision));
        Assert.Equal(wholeResponse.Events, fragments.SelectMany(r => r.Events));
    }

    [Fact]
    public async Task Wait_for_room_holds_a_client_that_does_not_read_until_it_reads_or_the_stream_closes()
    {
        await using var f = new WatchFixture(new WatchHubOptions { StreamBufferResponses = 2 });
        using var s = f.Hub.OpenStream();
        Assert.True(s.WaitForRoomAsync().IsCompletedSuccessfully);
        s.Create(Req("a"));
        s.Create(Req("b"));
        var wait = s.WaitForRoomAsync();
        Assert.False(wait.IsCompleted);
        await ReadAsync(s, "created");
        await wait.WaitAsync(ReadTimeout);

        s.Create(Req("c"));
        var second = s.WaitForRoomAsync();
        Assert.False(second.IsCompleted);
        s.Dispose();
        await second.WaitAsync(ReadTimeout);
        Assert.True(s.WaitForRoomAsync().IsCompletedSuccessfully);
    }

    [Fact]
    public async Task Dispose_of_a_stream_cancels_its_watchers_and_completes_its_responses()
    {
        await using var f = new WatchFixture(new WatchHubOptions { StreamBufferResponses = 3 });
        var s = f.Hub.OpenStream();
        s.Create(Req("a") with { ProgressNotify = true });
        s.Create(Req("b", "c"));
        f.Put("a", "1");
        f.Put("b", "1");
        Assert.Equal((1, 1), f.Hub.GroupSizes);
        s.Dispose();
        Assert.Equal((0, 0), f.Hub.GroupSizes);
        Assert.Equal(0, s.Pending);
        Assert.False(s.Responses.TryRead(out _));
        await s.Responses.Completion.WaitAsync(ReadTimeout);
        Assert.Throws<ObjectDisposedException>(() => s.Create(Req("a")));
        f.Put("a", "2");
        f.Time.Advance(TimeSpan.FromMinutes(30));
        Assert.Equal(0, s.Pending);
    }

    [Fact]
    public async Task Stopping_the_hub_completes_streams_and_leaves_queued_responses_readable()
    {
        var store = new MvccStore();
        var hub = new WatchHub(store);
        hub.Start();
        using var s = hub.OpenStream();
        s.Create(Req("a"));
        using (var t = store.BeginWrite())
        {
            t.Put(B("a"), B("1"));
            t.Commit();
        }
        await hub.DisposeAsync();
        Assert.True((await ReadAsync(s, "created")).Created);
        Assert.Single((await ReadAsync(s, "event")).Events);
        await s.Responses.Completion.WaitAsync(ReadTimeout);
        Assert.Throws<InvalidOperationException>(() => hub.OpenStream());
        store.Dispose();
    }
}
