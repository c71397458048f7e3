using Conclave.Verification.Linearizability;
using Conclave.Verification.Workload;

namespace Conclave.Verification.Checking;

/// <summary>A watcher's recorded events with the revision it started from.</summary>
public sealed record WatchRecord(string Name, long StartRevision, IReadOnlyList<WatchedEvent> Events);

/// <summary>The verdict on one run's history. No violations = the run passed.</summary>
public sealed record HistoryVerdict(IReadOnlyList<string> Violations, CheckResult Linearizability, int UnknownWritesDropped, int UnknownWritesKept)
{
    public bool IsOk => Violations.Count == 0;
}

/// <summary>
/// Checks a run's client history against the final event history (every event from revision 1,
/// read from a healthy cluster after the run; nothing is compacted during a run):
/// <list type="number">
/// <item>the final event history has strictly increasing revisions (one key per operation, so one event per revision);</item>
/// <item>every acknowledged write (put, successful compare-and-swap) is in it — nothing acknowledged was lost;</item>
/// <item>the key-value history is linearizable (<see cref="KeyValueModel"/>, per key). Written values are
/// unique, so a write with unknown outcome whose value is not in the final event history never took
/// effect and is dropped; one whose value is there stays pending (it took effect at some unknown time);</item>
/// <item>each watcher saw exactly the final history's events from its start revision to the end, in
/// revision order, each once: no gap, no duplicate, no reordering, no invented event.</item>
/// </list>
/// </summary>
public static class HistoryChecker
{
    public static HistoryVerdict Check(
        IReadOnlyList<RecordedOp> history,
        IReadOnlyList<WatchedEvent> finalEvents,
        IReadOnlyList<WatchRecord> watchers,
        CheckOptions? options = null)
    {
        var violations = new List<string>();
        for (var i = 1; i < finalEvents.Count; i++)
        {
            if (finalEvents[i].Revision <= finalEvents[i - 1].Revision)
            {
                violations.Add($"events: revision {finalEvents[i].Revision} ({finalEvents[i].Key}) follows revision {finalEvents[i - 1].Revision} in the final event history");
                break;
            }
        }

        var written = finalEvents.Where(e => !e.IsDelete).Select(e => (e.Key, e.Value!)).ToHashSet();
        foreach (var op in history.Where(op => op.IsAcknowledgedWrite))
        {
            if (!written.Contains((op.Input.Key, op.Input.Value!)))
            {
                violations.Add($"durability: acknowledged {Describe(op)} (revision {op.Revision}) is not in the final event history");
            }
        }

        var operations = new List<Operation<KvInput, KvOutput>>();
        var dropped = 0;
        var kept = 0;
        foreach (var op in history)
        {
            switch (op.Outcome)
            {
                case OpOutcome.Ok:
                    operations.Add(new Operation<KvInput, KvOutput>(op.ClientId, op.Input, op.Output, op.Call, op.Return));
                    break;
                case OpOutcome.Unknown when op.Input.Op is KvOp.Put or KvOp.CompareAndSwap:
                    if (written.Contains((op.Input.Key, op.Input.Value!)))
                    {
                        kept++;
                        operations.Add(Operation<KvInput, KvOutput>.Unknown(op.ClientId, op.Input, op.Call));
                    }
                    else
                    {
                        dropped++;
                    }

                    break;
                case OpOutcome.Unknown:
                    operations.Add(Operation<KvInput, KvOutput>.Unknown(op.ClientId, op.Input, op.Call));
                    break;
                case OpOutcome.Failed:
                    break;
            }
        }

        var result = LinearizabilityChecker.Check(KeyValueModel.Instance, operations, options);
        switch (result.Outcome)
        {
            case CheckOutcome.Illegal:
                violations.Add(result.Report);
                break;
            case CheckOutcome.Unknown:
                violations.Add($"linearizability: undecided after {result.Steps} steps (raise the budget or shorten the run)");
                break;
        }

        foreach (var watcher in watchers)
        {
            CheckWatcher(watcher, finalEvents, violations);
        }

        return new HistoryVerdict(violations, result, dropped, kept);
    }

    private static void CheckWatcher(WatchRecord watcher, IReadOnlyList<WatchedEvent> finalEvents, List<string> violations)
    {
        var expected = finalEvents.Where(e => e.Revision >= watcher.StartRevision).ToList();
        var seen = watcher.Events;
        for (var i = 0; i < Math.Max(expected.Count, seen.Count); i++)
        {
            var want = i < expected.Count ? expected[i] : null;
            var got = i < seen.Count ? seen[i] : null;
            if (want != got)
            {
                var what = (want, got) switch
                {
                    (null, _) => $"an extra event {got}",
                    (_, null) => $"nothing (it stopped at revision {(seen.Count == 0 ? watcher.StartRevision - 1 : seen[^1].Revision)}), expected {want}",
                    _ when got!.Revision > want!.Revision => $"{got}, expected {want} (a gap)",
                    _ when got!.Revision < want!.Revision => $"{got}, expected {want} (a duplicate or out of order)",
                    _ => $"{got}, expected {want} (different content)",
                };
                violations.Add($"watch: {watcher.Name} (from revision {watcher.StartRevision}) event #{i}: got {what}");
                return;
            }
        }
    }

    private static string Describe(RecordedOp op) =>
        $"client {op.ClientId} {KeyValueModel.Instance.Describe(op.Input, op.Output)}";
}
