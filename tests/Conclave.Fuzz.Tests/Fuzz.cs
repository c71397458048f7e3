using System.Globalization;
using System.Runtime.CompilerServices;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// Runs a fuzz target over a fixed number of cases. Case <c>i</c> draws everything it does from
/// <c>new Random(seed + i)</c>, so a case is reproduced by its seed alone:
/// <c>CONCLAVE_FUZZ_SEED=&lt;case seed&gt; CONCLAVE_FUZZ_ITERATIONS=1</c> runs exactly that case.
/// <see cref="IterationsVariable"/> replaces every target's default budget (for long runs);
/// <see cref="SeedVariable"/> replaces the base seed. A failing case throws
/// <see cref="FuzzCaseFailedException"/> whose message names the seed and the one command that reproduces it.
/// </summary>
internal static class Fuzz
{
    public const string IterationsVariable = "CONCLAVE_FUZZ_ITERATIONS";
    public const string SeedVariable = "CONCLAVE_FUZZ_SEED";
    public const int DefaultSeed = 20261126;

    /// <summary>The number of cases to run: <see cref="IterationsVariable"/> when set, else <paramref name="defaultIterations"/>.</summary>
    public static int Iterations(int defaultIterations) =>
        int.TryParse(Environment.GetEnvironmentVariable(IterationsVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : defaultIterations;

    public static int BaseSeed =>
        int.TryParse(Environment.GetEnvironmentVariable(SeedVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s)
            ? s
            : DefaultSeed;

    public static string ReproduceCommand(int seed, string test) =>
        $"{SeedVariable}={seed} {IterationsVariable}=1 dotnet test tests/Conclave.Fuzz.Tests --filter \"FullyQualifiedName~{test}\"";

    /// <summary>Runs <paramref name="body"/> once per case with that case's seeded random source.</summary>
    public static void Run(int defaultIterations, Action<Random> body, [CallerMemberName] string test = "")
    {
        var iterations = Iterations(defaultIterations);
        var seed = BaseSeed;
        for (var i = 0; i < iterations; i++)
        {
            var caseSeed = unchecked(seed + i);
            try
            {
                body(new Random(caseSeed));
            }
            catch (Exception e)
            {
                throw new FuzzCaseFailedException(caseSeed, test, i, e);
            }
        }
    }

    /// <summary>The asynchronous form of <see cref="Run"/>.</summary>
    public static async Task RunAsync(int defaultIterations, Func<Random, Task> body, [CallerMemberName] string test = "")
    {
        var iterations = Iterations(defaultIterations);
        var seed = BaseSeed;
        for (var i = 0; i < iterations; i++)
        {
            var caseSeed = unchecked(seed + i);
            try
            {
                await body(new Random(caseSeed));
            }
            catch (Exception e)
            {
                throw new FuzzCaseFailedException(caseSeed, test, i, e);
            }
        }
    }

    /// <summary>Hex of at most <paramref name="max"/> bytes, for failure messages.</summary>
    public static string Hex(ReadOnlySpan<byte> bytes, int max = 256) =>
        bytes.Length <= max ? Convert.ToHexString(bytes) : Convert.ToHexString(bytes[..max]) + $"...({bytes.Length} bytes)";
}

/// <summary>One fuzz case failed; the message says which seed and how to run only that case again.</summary>
public sealed class FuzzCaseFailedException(int seed, string test, int caseIndex, Exception inner)
    : Exception(
        $"fuzz case {caseIndex} of {test} failed with seed {seed}: {inner.GetType().Name}: {inner.Message}\n"
        + $"reproduce: {Fuzz.ReproduceCommand(seed, test)}",
        inner)
{
    public int Seed { get; } = seed;
}
