using Conclave.Verification.Checking;
using Conclave.Verification.Linearizability;
using Conclave.Verification.Workload;

namespace Conclave.Robustness.Tests;

/// <summary>The checker must be able to fail: a clean history passes, and each deliberate corruption is reported.</summary>
public sealed class HistoryCheckerTests
{
    private const string Key = "rob/k0";

    /// <summary>
    /// Two clients, sequential: put a (rev 2), put b (rev 3), get b, cas b=>c (rev 4), delete (rev 5), get absent,
    /// plus a put with unknown outcome that never took effect and one that did (rev 6).
    /// </summary>
    private static (List<RecordedOp> History, List<WatchedEvent> Events) CleanRun()
    {
        List<RecordedOp> history =
        [
            Ok(0, KvInput.Put(Key, "a"), KvOutput.Done, 10, 20, 2),
            Ok(1, KvInput.Put(Key, "b"), KvOutput.Done, 30, 40, 3),
            Ok(0, KvInput.Get(Key), KvOutput.Read("b"), 50, 60, 3),
            Ok(1, KvInput.Cas(Key, "b", "c"), KvOutput.Swapped(true), 70, 80, 4),
            Ok(0, KvInput.Delete(Key), KvOutput.Swapped(true), 90, 100, 5),
            Ok(1, KvInput.Get(Key), KvOutput.Read(null), 110, 120, 5),
            new(0, KvInput.Put(Key, "lost-in-flight"), OpOutcome.Unknown, null, 130, 140, 0, "DeadlineExceeded"),
            new(1, KvInput.Put(Key, "d"), OpOutcome.Unknown, null, 150, 160, 0, "Unavailable"),
            Ok(0, KvInput.Get(Key), KvOutput.Read("d"), 170, 180, 6),
        ];
        List<WatchedEvent> events =
        [
            new(2, Key, false, "a"),
            new(3, Key, false, "b"),
            new(4, Key, false, "c"),
            new(5, Key, true, null),
            new(6, Key, false, "d"),
        ];
        return (history, events);
    }

    private static RecordedOp Ok(int client, KvInput input, KvOutput output, long call, long ret, long revision) =>
        new(client, input, OpOutcome.Ok, output, call, ret, revision, null);

    [Fact]
    public void A_clean_history_passes_and_resolves_unknown_writes_from_the_events()
    {
        var (history, events) = CleanRun();
        var verdict = HistoryChecker.Check(history, events, [new WatchRecord("w", 1, events), new WatchRecord("late", 4, events.Skip(2).ToList())]);
        Assert.True(verdict.IsOk, string.Join('\n', verdict.Violations));
        Assert.Equal(1, verdict.UnknownWritesDropped);
        Assert.Equal(1, verdict.UnknownWritesKept);
    }

    [Fact]
    public void A_dropped_acknowledged_write_is_reported_as_lost()
    {
        var (history, events) = CleanRun();
        events.RemoveAll(e => e.Value == "a");
        var verdict = HistoryChecker.Check(history, events, []);
        Assert.Contains(verdict.Violations, v => v.StartsWith("durability: acknowledged client 0 put(rob/k0, \"a\")", StringComparison.Ordinal));
    }

    [Fact]
    public void A_stale_read_is_a_linearizability_violation()
    {
        var (history, events) = CleanRun();
        history[2] = history[2] with { Output = KvOutput.Read("a") };
        var verdict = HistoryChecker.Check(history, events, []);
        Assert.Equal(CheckOutcome.Illegal, verdict.Linearizability.Outcome);
        Assert.Contains(verdict.Violations, v => v.StartsWith("linearizability: no linearization", StringComparison.Ordinal));
    }

    [Fact]
    public void A_wrong_compare_and_swap_answer_is_a_linearizability_violation()
    {
        var (history, events) = CleanRun();
        history[3] = history[3] with { Output = KvOutput.Swapped(false) };
        events.RemoveAll(e => e.Value == "c");
        var verdict = HistoryChecker.Check(history, events, []);
        Assert.Equal(CheckOutcome.Illegal, verdict.Linearizability.Outcome);
    }

    [Fact]
    public void A_watch_gap_a_duplicate_and_a_missing_tail_are_reported()
    {
        var (history, events) = CleanRun();
        var gap = events.Where(e => e.Revision != 3).ToList();
        var duplicate = events.Take(3).Append(events[2]).Concat(events.Skip(3)).ToList();
        var stopped = events.Take(4).ToList();
        var verdict = HistoryChecker.Check(history, events, [new WatchRecord("gap", 1, gap), new WatchRecord("dup", 1, duplicate), new WatchRecord("stopped", 1, stopped)]);
        Assert.Contains(verdict.Violations, v => v.StartsWith("watch: gap", StringComparison.Ordinal) && v.Contains("(a gap)", StringComparison.Ordinal));
        Assert.Contains(verdict.Violations, v => v.StartsWith("watch: dup", StringComparison.Ordinal) && v.Contains("duplicate", StringComparison.Ordinal));
        Assert.Contains(verdict.Violations, v => v.StartsWith("watch: stopped", StringComparison.Ordinal) && v.Contains("nothing", StringComparison.Ordinal));
    }

    [Fact]
    public void Out_of_order_revisions_in_the_final_events_are_reported()
    {
        var (history, events) = CleanRun();
        (events[1], events[2]) = (events[2], events[1]);
        var verdict = HistoryChecker.Check(history, events, []);
        Assert.Contains(verdict.Violations, v => v.StartsWith("events: revision 3", StringComparison.Ordinal));
    }
}
