namespace Conclave.Verification.Linearizability;

/// <summary>
/// A sequential specification the checker tests a concurrent history against. States must be
/// treated as immutable values: <see cref="Step"/> returns a new state and never mutates its argument.
/// </summary>
public interface IModel<TState, TInput, TOutput>
    where TOutput : class
{
    TState Init();

    /// <summary>
    /// Applies <paramref name="input"/> to <paramref name="state"/>. Returns Ok = false when the
    /// observed <paramref name="output"/> is impossible in that state. A null output means the
    /// outcome is unknown: the step must then apply the operation's effect (if any) and succeed.
    /// </summary>
    (bool Ok, TState Next) Step(TState state, TInput input, TOutput? output);

    /// <summary>
    /// Splits a history into independent sub-histories checked separately (a key-value history
    /// per key). Return the history itself as the only partition when no split is possible.
    /// </summary>
    IReadOnlyList<IReadOnlyList<Operation<TInput, TOutput>>> Partition(IReadOnlyList<Operation<TInput, TOutput>> history);

    /// <summary>True for operations without effect; such an operation with unknown outcome is dropped before checking.</summary>
    bool IsReadOnly(TInput input);

    bool Equal(TState a, TState b);

    int Hash(TState state);

    string Describe(TInput input, TOutput? output);

    string DescribeState(TState state);
}
