namespace Conclave.Verification.Linearizability;

/// <summary>
/// One client operation as observed from outside: invoked at <see cref="Call"/>, answered at
/// <see cref="Return"/> (logical times, any unit, only their order matters). An operation whose
/// outcome is unknown (it timed out, its client crashed) has <see cref="Return"/> =
/// <see cref="long.MaxValue"/> and <see cref="Output"/> = null: it may have taken effect at any
/// point after its call, or never. Two operations overlap unless one returns strictly before
/// the other is called; equal times count as overlapping.
/// </summary>
public sealed record Operation<TInput, TOutput>(int ClientId, TInput Input, TOutput? Output, long Call, long Return)
    where TOutput : class
{
    public const long Pending = long.MaxValue;

    public bool IsPending => Return == Pending;

    public static Operation<TInput, TOutput> Unknown(int clientId, TInput input, long call) =>
        new(clientId, input, null, call, Pending);
}
