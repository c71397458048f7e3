using System.Diagnostics;
using System.Text;

namespace Conclave.Verification.Linearizability;

/// <summary>
/// Decides whether a concurrent history is linearizable with respect to a sequential model.
/// The search is the Wing–Gong backtracking algorithm with Lowe's memoization: the history is a
/// list of call and return events ordered by time; the search repeatedly picks a call that comes
/// before the first pending return, applies it to the model, and removes ("lifts") the operation;
/// reaching a return whose operation was not linearized means the choices so far were wrong and
/// the last one is undone. A (set of linearized operations, model state) pair seen before is
/// never explored twice, which makes most real histories fast.
/// Operations with unknown outcome return at +infinity, so they may be placed anywhere after
/// their call; the search succeeds once every completed operation is placed (pending ones that
/// were never placed simply did not take effect).
/// </summary>
public static class LinearizabilityChecker
{
    public static CheckResult Check<TState, TInput, TOutput>(
        IModel<TState, TInput, TOutput> model,
        IReadOnlyList<Operation<TInput, TOutput>> history,
        CheckOptions? options = null)
        where TOutput : class
    {
        options ??= CheckOptions.Default;
        var stopwatch = Stopwatch.StartNew();
        var budget = new Budget(options.MaxSteps, options.Timeout, stopwatch);
        var filtered = history.Where(op => !(op.IsPending && model.IsReadOnly(op.Input))).ToList();
        var partitions = model.Partition(filtered);
        var unknown = false;
        foreach (var partition in partitions)
        {
            var (outcome, report) = CheckPartition(model, partition, budget, options.ReportLimit);
            if (outcome == CheckOutcome.Illegal)
            {
                return new CheckResult(CheckOutcome.Illegal, report, budget.Steps, partitions.Count, filtered.Count);
            }

            unknown |= outcome == CheckOutcome.Unknown;
        }

        return new CheckResult(
            unknown ? CheckOutcome.Unknown : CheckOutcome.Ok,
            unknown ? "linearizability: step budget or timeout exhausted" : string.Empty,
            budget.Steps,
            partitions.Count,
            filtered.Count);
    }

    private sealed class Budget(long maxSteps, TimeSpan? timeout, Stopwatch stopwatch)
    {
        public long Steps { get; private set; }

        /// <summary>Counts one step; false when the budget is spent.</summary>
        public bool Spend()
        {
            Steps++;
            if (Steps > maxSteps)
            {
                return false;
            }

            return timeout is null || (Steps & 0x3FF) != 0 || stopwatch.Elapsed < timeout.Value;
        }
    }

    /// <summary>A node of the doubly linked event list. A call node points at its return node via Match.</summary>
    private sealed class Node
    {
        public int OpId;
        public bool IsCall;
        public Node? Match;
        public Node? Prev;
        public Node? Next;
    }

    private static (CheckOutcome Outcome, string Report) CheckPartition<TState, TInput, TOutput>(
        IModel<TState, TInput, TOutput> model,
        IReadOnlyList<Operation<TInput, TOutput>> ops,
        Budget budget,
        int reportLimit)
        where TOutput : class
    {
        var completedLeft = ops.Count(op => !op.IsPending);
        if (completedLeft == 0)
        {
            return (CheckOutcome.Ok, string.Empty);
        }

        var head = BuildEventList(ops);
        var linearized = new BitSet(ops.Count);
        var cache = new HashSet<CacheKey<TState>>(new CacheKeyComparer<TState>(model.Equal, model.Hash));
        var stack = new Stack<(Node Call, TState Before)>();
        var state = model.Init();
        var best = Array.Empty<int>();
        var node = head.Next;
        while (true)
        {
            if (node is null)
            {
                // Only reachable if every remaining event is a pending call skipped above; the
                // completed operations were all placed, so this is handled below. Defensive.
                break;
            }

            if (node.IsCall)
            {
                if (!budget.Spend())
                {
                    return (CheckOutcome.Unknown, string.Empty);
                }

                var op = ops[node.OpId];
                var (ok, next) = model.Step(state, op.Input, op.Output);
                if (ok)
                {
                    var withOp = linearized.With(node.OpId);
                    if (cache.Add(new CacheKey<TState>(withOp, next)))
                    {
                        stack.Push((node, state));
                        state = next;
                        linearized = withOp;
                        if (!op.IsPending)
                        {
                            completedLeft--;
                        }

                        if (stack.Count > best.Length)
                        {
                            best = stack.Select(e => e.Call.OpId).Reverse().ToArray();
                        }

                        if (completedLeft == 0)
                        {
                            return (CheckOutcome.Ok, string.Empty);
                        }

                        Lift(node);
                        node = head.Next;
                        continue;
                    }
                }

                node = node.Next;
                continue;
            }

            // A return whose operation is not placed: undo the most recent choice and try the next call after it.
            if (stack.Count == 0)
            {
                return (CheckOutcome.Illegal, Describe(model, ops, best, reportLimit));
            }

            var (call, before) = stack.Pop();
            state = before;
            linearized = linearized.Without(call.OpId);
            if (!ops[call.OpId].IsPending)
            {
                completedLeft++;
            }

            Unlift(call);
            node = call.Next;
        }

        return (CheckOutcome.Illegal, Describe(model, ops, best, reportLimit));
    }

    private static Node BuildEventList<TInput, TOutput>(IReadOnlyList<Operation<TInput, TOutput>> ops)
        where TOutput : class
    {
        // Order by time; at equal times calls come first, so equal times count as overlapping.
        var events = new List<(long Time, bool IsCall, int OpId)>(ops.Count * 2);
        for (var i = 0; i < ops.Count; i++)
        {
            if (ops[i].Return < ops[i].Call)
            {
                throw new ArgumentException($"linearizability: operation {i} returns ({ops[i].Return}) before its call ({ops[i].Call})");
            }

            events.Add((ops[i].Call, true, i));
            events.Add((ops[i].Return, false, i));
        }

        events.Sort((a, b) =>
        {
            var byTime = a.Time.CompareTo(b.Time);
            if (byTime != 0)
            {
                return byTime;
            }

            return a.IsCall == b.IsCall ? a.OpId.CompareTo(b.OpId) : (a.IsCall ? -1 : 1);
        });

        var head = new Node { OpId = -1 };
        var calls = new Node[ops.Count];
        var tail = head;
        foreach (var e in events)
        {
            var n = new Node { OpId = e.OpId, IsCall = e.IsCall, Prev = tail };
            tail.Next = n;
            tail = n;
            if (e.IsCall)
            {
                calls[e.OpId] = n;
            }
            else
            {
                calls[e.OpId].Match = n;
            }
        }

        return head;
    }

    private static void Lift(Node call)
    {
        Unlink(call);
        Unlink(call.Match!);
    }

    private static void Unlift(Node call)
    {
        // Relink in the reverse order of Lift so each node's neighbours are exactly as they were.
        Relink(call.Match!);
        Relink(call);
    }

    private static void Unlink(Node n)
    {
        n.Prev!.Next = n.Next;
        if (n.Next is not null)
        {
            n.Next.Prev = n.Prev;
        }
    }

    private static void Relink(Node n)
    {
        n.Prev!.Next = n;
        if (n.Next is not null)
        {
            n.Next.Prev = n;
        }
    }

    private static string Describe<TState, TInput, TOutput>(
        IModel<TState, TInput, TOutput> model,
        IReadOnlyList<Operation<TInput, TOutput>> ops,
        int[] best,
        int reportLimit)
        where TOutput : class
    {
        var sb = new StringBuilder();
        var state = model.Init();
        sb.Append("linearizability: no linearization; longest linearizable prefix has ")
            .Append(best.Length).Append(" of ").Append(ops.Count).AppendLine(" operations:");
        foreach (var id in best.TakeLast(reportLimit))
        {
            var op = ops[id];
            state = model.Step(state, op.Input, op.Output).Next;
            sb.Append("  ").AppendLine(Format(model, op));
        }

        if (best.Length > 0)
        {
            state = model.Init();
            foreach (var id in best)
            {
                state = model.Step(state, ops[id].Input, ops[id].Output).Next;
            }
        }

        sb.Append("state after it: ").AppendLine(model.DescribeState(state));
        sb.AppendLine("operations that could not be placed next (earliest first):");
        var placed = best.ToHashSet();
        foreach (var op in Enumerable.Range(0, ops.Count).Where(i => !placed.Contains(i) && !ops[i].IsPending)
            .OrderBy(i => ops[i].Call).Take(reportLimit))
        {
            sb.Append("  ").AppendLine(Format(model, ops[op]));
        }

        return sb.ToString();
    }

    private static string Format<TState, TInput, TOutput>(IModel<TState, TInput, TOutput> model, Operation<TInput, TOutput> op)
        where TOutput : class =>
        $"client {op.ClientId} [{op.Call}, {(op.IsPending ? "pending" : op.Return.ToString(System.Globalization.CultureInfo.InvariantCulture))}] {model.Describe(op.Input, op.Output)}";

    private readonly record struct CacheKey<TState>(BitSet Linearized, TState State);

    private sealed class CacheKeyComparer<TState>(Func<TState, TState, bool> equal, Func<TState, int> hash) : IEqualityComparer<CacheKey<TState>>
    {
        public bool Equals(CacheKey<TState> x, CacheKey<TState> y) => x.Linearized.Equals(y.Linearized) && equal(x.State, y.State);

        public int GetHashCode(CacheKey<TState> key) => HashCode.Combine(key.Linearized.GetHashCode(), hash(key.State));
    }
}
