using Conclave.Verification.Linearizability;

namespace Conclave.Testing.Tests.Linearizability;

public class KeyValueHistoryTests
{
    private static Operation<KvInput, KvOutput> Op(int client, KvInput input, KvOutput? output, long call, long ret) =>
        new(client, input, output, call, ret);

    private static CheckResult Check(params Operation<KvInput, KvOutput>[] history) =>
        LinearizabilityChecker.Check(KeyValueModel.Instance, history);

    [Fact]
    public void Sequential_put_then_get_is_linearizable()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "1"), KvOutput.Done, 0, 1),
            Op(2, KvInput.Get("x"), KvOutput.Read("1"), 2, 3));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void Stale_read_after_a_completed_write_is_rejected()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "1"), KvOutput.Done, 0, 1),
            Op(1, KvInput.Put("x", "2"), KvOutput.Done, 2, 3),
            Op(2, KvInput.Get("x"), KvOutput.Read("1"), 4, 5));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
        Assert.Contains("get(x) -> \"1\"", result.Report, StringComparison.Ordinal);
    }

    [Fact]
    public void Lost_write_is_rejected()
    {
        // The put of "2" completed, yet a later read sees the initial absence.
        var result = Check(
            Op(1, KvInput.Put("x", "2"), KvOutput.Done, 0, 1),
            Op(2, KvInput.Get("x"), KvOutput.Read(null), 2, 3));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
    }

    [Fact]
    public void Concurrent_writes_read_in_both_orders_by_different_clients_is_rejected()
    {
        // Two overlapping puts may take effect in either order, but every later reader must see the same order.
        var result = Check(
            Op(1, KvInput.Put("x", "a"), KvOutput.Done, 0, 10),
            Op(2, KvInput.Put("x", "b"), KvOutput.Done, 0, 10),
            Op(3, KvInput.Get("x"), KvOutput.Read("a"), 11, 12),
            Op(3, KvInput.Get("x"), KvOutput.Read("b"), 13, 14),
            Op(4, KvInput.Get("x"), KvOutput.Read("b"), 11, 12),
            Op(4, KvInput.Get("x"), KvOutput.Read("a"), 13, 14));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
    }

    [Fact]
    public void Concurrent_writes_seen_in_one_order_by_everybody_is_linearizable()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "a"), KvOutput.Done, 0, 10),
            Op(2, KvInput.Put("x", "b"), KvOutput.Done, 0, 10),
            Op(3, KvInput.Get("x"), KvOutput.Read("b"), 11, 12),
            Op(4, KvInput.Get("x"), KvOutput.Read("b"), 11, 12));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void Cas_that_succeeds_twice_from_the_same_value_is_rejected()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "0"), KvOutput.Done, 0, 1),
            Op(2, KvInput.Cas("x", "0", "a"), KvOutput.Swapped(true), 2, 10),
            Op(3, KvInput.Cas("x", "0", "b"), KvOutput.Swapped(true), 2, 10));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
    }

    [Fact]
    public void Competing_cas_where_one_wins_is_linearizable()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "0"), KvOutput.Done, 0, 1),
            Op(2, KvInput.Cas("x", "0", "a"), KvOutput.Swapped(false), 2, 10),
            Op(3, KvInput.Cas("x", "0", "b"), KvOutput.Swapped(true), 2, 10),
            Op(2, KvInput.Get("x"), KvOutput.Read("b"), 11, 12));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void Overlapping_read_may_see_old_or_new_value()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "1"), KvOutput.Done, 0, 1),
            Op(1, KvInput.Put("x", "2"), KvOutput.Done, 2, 10),
            Op(2, KvInput.Get("x"), KvOutput.Read("2"), 3, 4),
            Op(3, KvInput.Get("x"), KvOutput.Read("1"), 3, 5));
        // Client 3 read "1" and returned at 5, client 2 read "2" at [3,4]: 3's read can be placed
        // before the put of "2" and 2's after it.
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void Read_after_a_read_that_saw_the_new_value_cannot_see_the_old_one()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "1"), KvOutput.Done, 0, 1),
            Op(1, KvInput.Put("x", "2"), KvOutput.Done, 2, 20),
            Op(2, KvInput.Get("x"), KvOutput.Read("2"), 3, 4),
            Op(3, KvInput.Get("x"), KvOutput.Read("1"), 5, 6));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
    }

    [Fact]
    public void Delete_reports_whether_the_key_existed()
    {
        Assert.Equal(CheckOutcome.Ok, Check(
            Op(1, KvInput.Delete("x"), KvOutput.Swapped(false), 0, 1),
            Op(1, KvInput.Put("x", "1"), KvOutput.Done, 2, 3),
            Op(1, KvInput.Delete("x"), KvOutput.Swapped(true), 4, 5),
            Op(2, KvInput.Get("x"), KvOutput.Read(null), 6, 7)).Outcome);
        Assert.Equal(CheckOutcome.Illegal, Check(
            Op(1, KvInput.Put("x", "1"), KvOutput.Done, 0, 1),
            Op(1, KvInput.Delete("x"), KvOutput.Swapped(false), 2, 3)).Outcome);
    }

    [Fact]
    public void Keys_are_checked_independently()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "1"), KvOutput.Done, 0, 1),
            Op(1, KvInput.Put("y", "1"), KvOutput.Done, 2, 3),
            Op(2, KvInput.Get("x"), KvOutput.Read("1"), 4, 5),
            Op(2, KvInput.Get("y"), KvOutput.Read(null), 6, 7));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
        Assert.Equal(2, result.Partitions);
    }

    [Fact]
    public void Pending_write_may_take_effect_late()
    {
        // The put never returned; a read long after its call sees its value.
        var result = Check(
            Op(1, KvInput.Put("x", "1"), null, 0, Operation<KvInput, KvOutput>.Pending),
            Op(2, KvInput.Get("x"), KvOutput.Read(null), 1, 2),
            Op(2, KvInput.Get("x"), KvOutput.Read("1"), 100, 101));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void Pending_write_may_never_take_effect()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "1"), null, 0, Operation<KvInput, KvOutput>.Pending),
            Op(2, KvInput.Get("x"), KvOutput.Read(null), 100, 101));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
    }

    [Fact]
    public void Pending_write_cannot_take_effect_before_its_call()
    {
        var result = Check(
            Op(2, KvInput.Get("x"), KvOutput.Read("1"), 0, 1),
            Op(1, KvInput.Put("x", "1"), null, 5, Operation<KvInput, KvOutput>.Pending));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
    }

    [Fact]
    public void Pending_write_takes_effect_at_most_once()
    {
        // Seen, then overwritten, then seen again: the single pending put cannot explain both.
        var result = Check(
            Op(1, KvInput.Put("x", "1"), null, 0, Operation<KvInput, KvOutput>.Pending),
            Op(2, KvInput.Get("x"), KvOutput.Read("1"), 1, 2),
            Op(2, KvInput.Put("x", "2"), KvOutput.Done, 3, 4),
            Op(2, KvInput.Get("x"), KvOutput.Read("1"), 5, 6));
        Assert.Equal(CheckOutcome.Illegal, result.Outcome);
    }

    [Fact]
    public void Pending_read_is_dropped()
    {
        var result = Check(
            Op(1, KvInput.Put("x", "1"), KvOutput.Done, 0, 1),
            Op(2, KvInput.Get("x"), null, 2, Operation<KvInput, KvOutput>.Pending));
        Assert.Equal(CheckOutcome.Ok, result.Outcome);
        Assert.Equal(1, result.Operations);
    }

    [Fact]
    public void Step_budget_exhaustion_is_unknown_not_ok()
    {
        var history = Enumerable.Range(0, 30)
            .Select(i => Op(i, KvInput.Put("x", i.ToString(System.Globalization.CultureInfo.InvariantCulture)), KvOutput.Done, 0, 100))
            .Append(Op(99, KvInput.Get("x"), KvOutput.Read("never"), 200, 201))
            .ToArray();
        var result = LinearizabilityChecker.Check(KeyValueModel.Instance, history, new CheckOptions { MaxSteps = 1000 });
        Assert.Equal(CheckOutcome.Unknown, result.Outcome);
    }
}
