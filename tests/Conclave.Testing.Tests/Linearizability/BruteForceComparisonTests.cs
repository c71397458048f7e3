using Conclave.Verification.Linearizability;
using CsCheck;

namespace Conclave.Testing.Tests.Linearizability;

/// <summary>
/// The checker against the definition: for small random histories (random outputs, so many are
/// not linearizable) it must agree with a brute-force search over every order that respects real
/// time, in which each completed operation appears once and each pending one at most once.
/// </summary>
public class BruteForceComparisonTests
{
    private static readonly string?[] Values = [null, "a", "b"];

    private static readonly Gen<Operation<KvInput, KvOutput>> GenOp =
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, 2], Gen.Int[0, 2], Gen.Bool, Gen.Int[0, 12], Gen.Int[0, 6], Gen.Int[0, 4])
            .Select((kind, v, e, ok, call, width, pending) =>
            {
                var value = Values[v] ?? "a";
                KvInput input = kind switch
                {
                    0 => KvInput.Get("x"),
                    1 => KvInput.Put("x", value),
                    2 => KvInput.Cas("x", Values[e], value),
                    _ => KvInput.Delete("x"),
                };
                KvOutput output = kind == 0 ? KvOutput.Read(Values[v]) : KvOutput.Swapped(ok || kind == 1);
                return pending == 0
                    ? Operation<KvInput, KvOutput>.Unknown(0, input, call)
                    : new Operation<KvInput, KvOutput>(0, input, output, call, call + width);
            });

    [Fact]
    public void The_checker_agrees_with_brute_force_on_small_histories()
    {
        var illegal = 0;
        var ok = 0;
        SeededProperty.ForAll(GenOp.Array[1, 7], iterations: 3000, seed: 3, history =>
        {
            var expected = BruteForce(history);
            var actual = LinearizabilityChecker.Check(KeyValueModel.Instance, history).Outcome;
            if (expected)
            {
                ok++;
            }
            else
            {
                illegal++;
            }

            return actual == (expected ? CheckOutcome.Ok : CheckOutcome.Illegal);
        }, history => string.Join('\n', history.Select(op => $"[{op.Call}, {op.Return}] {KeyValueModel.Instance.Describe(op.Input, op.Output)}")));
        Assert.True(ok > 300 && illegal > 300, $"expected both outcomes often, got {ok} linearizable and {illegal} not");
    }

    private static bool BruteForce(Operation<KvInput, KvOutput>[] ops)
    {
        var used = new bool[ops.Length];
        return Search(KeyValueModel.Instance.Init());

        bool Search(string? state)
        {
            if (Enumerable.Range(0, ops.Length).All(i => used[i] || ops[i].IsPending))
            {
                return true;
            }

            for (var i = 0; i < ops.Length; i++)
            {
                // i may come next only if every unused completed operation returned at or after i's call.
                if (used[i] || Enumerable.Range(0, ops.Length).Any(j => !used[j] && j != i && !ops[j].IsPending && ops[j].Return < ops[i].Call))
                {
                    continue;
                }

                var (stepOk, next) = KeyValueModel.Instance.Step(state, ops[i].Input, ops[i].Output);
                if (!stepOk)
                {
                    continue;
                }

                used[i] = true;
                var found = Search(next);
                used[i] = false;
                if (found)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
