using CsCheck;

namespace Conclave.Testing.Tests.Linearizability;

/// <summary>
/// Runs a property over values drawn from a CsCheck generator with a fixed PCG seed, so every run
/// checks the same values (CsCheck's Sample seeds only its first iteration). A failure names the
/// iteration and describes the value.
/// </summary>
internal static class SeededProperty
{
    public static void ForAll<T>(Gen<T> gen, int iterations, ulong seed, Func<T, bool> property, Func<T, string> describe)
    {
        var pcg = new PCG(1, seed);
        for (var i = 0; i < iterations; i++)
        {
            var value = gen.Generate(pcg, null!, out _);
            Assert.True(property(value), $"property failed at iteration {i} (seed {seed}):\n{describe(value)}");
        }
    }
}
