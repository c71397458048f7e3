using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Conclave.SelfTest;

[JsonConverter(typeof(JsonStringEnumConverter<SelfTestVerdict>))]
public enum SelfTestVerdict
{
    /// <summary>Every check passed. Exit code 0.</summary>
    Pass,

    /// <summary>A guarantee was violated (Reasons says which). Exit code 1.</summary>
    Fail,

    /// <summary>No violation found, but the checker ran out of budget before deciding. Exit code 4.</summary>
    Undecided,

    /// <summary>No endpoint answered. Exit code 3.</summary>
    Unreachable,

    /// <summary>The prefix already holds keys; nothing was written. Exit code 2.</summary>
    PrefixInUse,

    /// <summary>Ctrl-C: the run stopped early and cleaned up; nothing was checked. Exit code 130.</summary>
    Interrupted,
}

/// <summary>Count and latency (milliseconds, answered operations only) of one kind of operation.</summary>
public sealed record OperationStats(string Operation, int Count, int Ok, int Failed, int Unknown, double P50Ms, double P99Ms, double MaxMs);

/// <param name="DeletedKeys">Keys the final delete of the prefix removed; null when it did not get through.</param>
/// <param name="RemainingKeys">Keys under the prefix afterwards (0 = clean); null when that could not be read.</param>
public sealed record CleanupReport(long? DeletedKeys, long? RemainingKeys, int LeasesRevoked, string? Error);

/// <summary>The outcome of one `conclave selftest` run.</summary>
public sealed record SelfTestReport
{
    public required SelfTestVerdict Verdict { get; init; }

    /// <summary>Why the verdict is not PASS: one line per violation or problem.</summary>
    public IReadOnlyList<string> Reasons { get; init; } = [];

    /// <summary>Things an operator should know that are not violations (an endpoint that did not answer, a lease round cut short).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    public required IReadOnlyList<string> Endpoints { get; init; }

    public required string Prefix { get; init; }

    public int Seed { get; init; }

    public int Clients { get; init; }

    public int Keys { get; init; }

    public double DurationSeconds { get; init; }

    public double ElapsedSeconds { get; init; }

    /// <summary>Cluster revision when the run started (the watchers start just after it).</summary>
    public long StartRevision { get; init; }

    public IReadOnlyList<OperationStats> Operations { get; init; } = [];

    public int Watchers { get; init; }

    public int WatchEvents { get; init; }

    public int WatchReconnects { get; init; }

    /// <summary>The lease round: "ok" or what went wrong.</summary>
    public string? Lease { get; init; }

    public long CheckerSteps { get; init; }

    public int CheckedKeys { get; init; }

    public CleanupReport? Cleanup { get; init; }

    public int ExitCode => Verdict switch
    {
        SelfTestVerdict.Pass => 0,
        SelfTestVerdict.Fail => 1,
        SelfTestVerdict.PrefixInUse => 2,
        SelfTestVerdict.Unreachable => 3,
        SelfTestVerdict.Undecided => 4,
        _ => 130,
    };

    public void WriteJson(TextWriter writer) => writer.WriteLine(JsonSerializer.Serialize(this, SelfTestJsonContext.Default.SelfTestReport));

    public void WriteHuman(TextWriter writer)
    {
        var inv = CultureInfo.InvariantCulture;
        writer.WriteLine($"verdict: {Verdict.ToString().ToUpperInvariant()}");
        foreach (var reason in Reasons)
        {
            writer.WriteLine($"  - {reason.TrimEnd().Replace("\n", "\n    ", StringComparison.Ordinal)}");
        }

        writer.WriteLine(string.Create(inv, $"endpoints: {string.Join(',', Endpoints)}; prefix {Prefix}; seed {Seed}; {Clients} clients on {Keys} keys for {DurationSeconds:0.#} s ({ElapsedSeconds:0.0} s in all)"));
        if (Operations.Count > 0)
        {
            writer.WriteLine($"operations: {Operations.Sum(o => o.Count)} ({Operations.Sum(o => o.Ok)} ok, {Operations.Sum(o => o.Failed)} failed, {Operations.Sum(o => o.Unknown)} unknown)");
            writer.WriteLine("  op        count      ok  unknown   p50 ms   p99 ms   max ms");
            foreach (var op in Operations)
            {
                writer.WriteLine(string.Create(inv, $"  {op.Operation,-8}{op.Count,7}{op.Ok,8}{op.Unknown,9}{op.P50Ms,9:0.00}{op.P99Ms,9:0.00}{op.MaxMs,9:0.00}"));
            }

            writer.WriteLine($"watch: {Watchers} watchers, {WatchEvents} events, {WatchReconnects} reconnects");
            writer.WriteLine($"lease: {Lease ?? "not run"}");
            writer.WriteLine($"checker: {CheckerSteps} steps over {CheckedKeys} keys");
        }

        if (Cleanup is { } cleanup)
        {
            writer.WriteLine(cleanup.Error is null
                ? $"cleanup: deleted {cleanup.DeletedKeys} keys, revoked {cleanup.LeasesRevoked} leases, {cleanup.RemainingKeys} keys left under the prefix"
                : $"cleanup: INCOMPLETE ({cleanup.Error}); delete the prefix {Prefix} by hand");
        }

        foreach (var note in Notes)
        {
            writer.WriteLine($"note: {note}");
        }
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(SelfTestReport))]
public sealed partial class SelfTestJsonContext : JsonSerializerContext;
