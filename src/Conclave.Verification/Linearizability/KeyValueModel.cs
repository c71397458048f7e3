namespace Conclave.Verification.Linearizability;

public enum KvOp
{
    Get,
    Put,

    /// <summary>Sets the key to Value when its current value equals Expected (null Expected = the key is absent).</summary>
    CompareAndSwap,
    Delete,
}

/// <summary>An operation on one key of a key-value register. Value is the value written (Put, CompareAndSwap).</summary>
public sealed record KvInput(KvOp Op, string Key, string? Value = null, string? Expected = null)
{
    public static KvInput Get(string key) => new(KvOp.Get, key);

    public static KvInput Put(string key, string value) => new(KvOp.Put, key, value);

    public static KvInput Cas(string key, string? expected, string value) => new(KvOp.CompareAndSwap, key, value, expected);

    public static KvInput Delete(string key) => new(KvOp.Delete, key);
}

/// <summary>
/// The observed answer. Get: Value read (null = absent). CompareAndSwap: Succeeded = swapped.
/// Delete: Succeeded = the key existed. Put: Succeeded is ignored.
/// </summary>
public sealed record KvOutput(bool Succeeded, string? Value = null)
{
    public static KvOutput Read(string? value) => new(true, value);

    public static KvOutput Done { get; } = new(true);

    public static KvOutput Swapped(bool swapped) => new(swapped);
}

/// <summary>
/// A key-value register checked one key at a time: the state is the key's current value (null = absent).
/// </summary>
public sealed class KeyValueModel : IModel<string?, KvInput, KvOutput>
{
    public static KeyValueModel Instance { get; } = new();

    public string? Init() => null;

    public (bool Ok, string? Next) Step(string? state, KvInput input, KvOutput? output)
    {
        switch (input.Op)
        {
            case KvOp.Get:
                return (output is null || output.Value == state, state);
            case KvOp.Put:
                return (true, input.Value);
            case KvOp.Delete:
                return (output is null || output.Succeeded == (state is not null), null);
            case KvOp.CompareAndSwap:
                var matches = state == input.Expected;
                if (output is not null && output.Succeeded != matches)
                {
                    return (false, state);
                }

                return (true, matches ? input.Value : state);
            default:
                throw new ArgumentOutOfRangeException(nameof(input), input.Op, "linearizability: unknown key-value operation");
        }
    }

    public IReadOnlyList<IReadOnlyList<Operation<KvInput, KvOutput>>> Partition(IReadOnlyList<Operation<KvInput, KvOutput>> history) =>
        history.GroupBy(op => op.Input.Key, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (IReadOnlyList<Operation<KvInput, KvOutput>>)g.ToList())
            .ToList();

    public bool IsReadOnly(KvInput input) => input.Op == KvOp.Get;

    public bool Equal(string? a, string? b) => string.Equals(a, b, StringComparison.Ordinal);

    public int Hash(string? state) => state is null ? 0 : StringComparer.Ordinal.GetHashCode(state);

    public string Describe(KvInput input, KvOutput? output)
    {
        var outcome = output is null ? "?" : input.Op switch
        {
            KvOp.Get => Show(output.Value),
            KvOp.Put => "ok",
            _ => output.Succeeded ? "ok" : "failed",
        };
        return input.Op switch
        {
            KvOp.Get => $"get({input.Key}) -> {outcome}",
            KvOp.Put => $"put({input.Key}, {Show(input.Value)}) -> {outcome}",
            KvOp.CompareAndSwap => $"cas({input.Key}, {Show(input.Expected)} => {Show(input.Value)}) -> {outcome}",
            _ => $"delete({input.Key}) -> {outcome}",
        };
    }

    public string DescribeState(string? state) => Show(state);

    private static string Show(string? value) => value is null ? "<absent>" : $"\"{value}\"";
}
