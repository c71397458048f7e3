namespace Conclave.Verification.Linearizability;

public enum CheckOutcome
{
    /// <summary>Every partition has a linearization.</summary>
    Ok,

    /// <summary>Some partition has none; <see cref="CheckResult.Report"/> says where the search got stuck.</summary>
    Illegal,

    /// <summary>The step budget or the timeout ran out before an answer; the caller decides what that means.</summary>
    Unknown,
}

/// <param name="Report">Empty when Ok. For Illegal: the longest linearizable prefix found and the operations that could not be placed after it.</param>
/// <param name="Steps">Search steps spent over all partitions (model steps tried).</param>
public sealed record CheckResult(CheckOutcome Outcome, string Report, long Steps, int Partitions, int Operations)
{
    public bool IsOk => Outcome == CheckOutcome.Ok;
}

public sealed record CheckOptions
{
    public static CheckOptions Default { get; } = new();

    /// <summary>Model steps allowed for the whole history before the answer is Unknown. Deterministic.</summary>
    public long MaxSteps { get; init; } = 50_000_000;

    /// <summary>Wall-clock limit before the answer is Unknown; null = none. Not deterministic: for soak tools only.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>How many unplaceable operations an Illegal report lists.</summary>
    public int ReportLimit { get; init; } = 8;
}
