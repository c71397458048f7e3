using Conclave.Verification.Linearizability;
using CsCheck;

namespace Conclave.Testing.Tests.Linearizability;

/// <summary>
/// Histories built from a real sequential execution: each operation gets a linearization point
/// 10 time units apart and an interval [call, return] around it of random width, so operations
/// overlap at random but the points are a witness that the history is linearizable.
/// </summary>
public class GeneratedHistoryTests
{
    // (op kind 0..3, key 0..2, value choice 0..4, interval widths, client, pending?)
    private static readonly Gen<(int Kind, int Key, int Value, int Before, int After, int Client, bool Pending)[]> Steps =
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, 2], Gen.Int[0, 4], Gen.Int[0, 40], Gen.Int[0, 40], Gen.Int[0, 4], Gen.Int[0, 9])
            .Select((k, key, v, b, a, c, p) => (k, key, v, b, a, c, p == 0))
            .Array[1, 60];

    private static List<Operation<KvInput, KvOutput>> Execute((int Kind, int Key, int Value, int Before, int After, int Client, bool Pending)[] steps)
    {
        var store = new Dictionary<string, string>();
        var history = new List<Operation<KvInput, KvOutput>>();
        for (var i = 0; i < steps.Length; i++)
        {
            var s = steps[i];
            var key = "k" + s.Key;
            var point = 100 + (i * 10L);
            var value = $"v{i}";
            store.TryGetValue(key, out var current);
            KvInput input;
            KvOutput output;
            switch (s.Kind)
            {
                case 0:
                    input = KvInput.Get(key);
                    output = KvOutput.Read(current);
                    break;
                case 1:
                    input = KvInput.Put(key, value);
                    output = KvOutput.Done;
                    store[key] = value;
                    break;
                case 2:
                    // Expect the current value half the time, so both outcomes occur.
                    var expected = s.Value % 2 == 0 ? current : "v-unlikely";
                    input = KvInput.Cas(key, expected, value);
                    output = KvOutput.Swapped(expected == current);
                    if (expected == current)
                    {
                        store[key] = value;
                    }

                    break;
                default:
                    input = KvInput.Delete(key);
                    output = KvOutput.Swapped(current is not null);
                    store.Remove(key);
                    break;
            }

            history.Add(s.Pending
                ? Operation<KvInput, KvOutput>.Unknown(s.Client, input, point - s.Before)
                : new Operation<KvInput, KvOutput>(s.Client, input, output, point - s.Before, point + s.After));
        }

        return history;
    }

    private static string Describe((int Kind, int Key, int Value, int Before, int After, int Client, bool Pending)[] steps) =>
        string.Join('\n', Execute(steps).Select(op => $"client {op.ClientId} [{op.Call}, {op.Return}] {KeyValueModel.Instance.Describe(op.Input, op.Output)}"));

    [Fact]
    public void Histories_from_a_sequential_execution_are_always_linearizable()
    {
        SeededProperty.ForAll(Steps, iterations: 400, seed: 1, steps =>
        {
            var history = Execute(steps);
            var result = LinearizabilityChecker.Check(KeyValueModel.Instance, history);
            return result.Outcome == CheckOutcome.Ok;
        }, Describe);
    }

    [Fact]
    public void A_read_of_a_value_never_written_is_always_rejected()
    {
        SeededProperty.ForAll(Steps.Select(Gen.Int[0, 1000]), iterations: 400, seed: 2, input =>
        {
            var (steps, pick) = input;
            var history = Execute(steps);
            var reads = Enumerable.Range(0, history.Count).Where(i => history[i].Input.Op == KvOp.Get && !history[i].IsPending).ToList();
            if (reads.Count == 0)
            {
                return true;
            }

            var victim = reads[pick % reads.Count];
            history[victim] = history[victim] with { Output = KvOutput.Read("never-written") };
            var result = LinearizabilityChecker.Check(KeyValueModel.Instance, history);
            return result.Outcome == CheckOutcome.Illegal && result.Report.Contains("\"never-written\"", StringComparison.Ordinal);
        }, input => Describe(input.Item1));
    }
}
