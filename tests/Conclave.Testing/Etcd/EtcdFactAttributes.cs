using Xunit;

namespace Conclave.Testing.Etcd;

/// <summary>
/// A fact that needs every real etcd tool (etcd, etcdctl, python3-etcd3). Outside CI it is
/// skipped, with the reason, when a tool is missing; under CI=true it always runs, so a missing
/// tool fails it.
/// </summary>
public sealed class EtcdFactAttribute : FactAttribute
{
    public EtcdFactAttribute() => Skip = EtcdSkip.Reason(EtcdTools.MissingReason);
}

/// <summary>The <see cref="EtcdFactAttribute"/> rule for theories.</summary>
public sealed class EtcdTheoryAttribute : TheoryAttribute
{
    public EtcdTheoryAttribute() => Skip = EtcdSkip.Reason(EtcdTools.MissingReason);
}

/// <summary>A fact that needs Debian's etcd binary only: the <see cref="EtcdFactAttribute"/> rule for that one tool.</summary>
public sealed class EtcdBinaryFactAttribute : FactAttribute
{
    public EtcdBinaryFactAttribute() =>
        Skip = EtcdSkip.Reason(() => EtcdTools.EtcdPath is null ? "etcd is not on PATH (Debian etcd-server; scripts/install-test-deps.sh)" : null);
}

/// <summary>A fact that needs Debian's etcdctl only: the <see cref="EtcdFactAttribute"/> rule for that one tool.</summary>
public sealed class EtcdctlFactAttribute : FactAttribute
{
    public EtcdctlFactAttribute() =>
        Skip = EtcdSkip.Reason(() => EtcdTools.EtcdctlPath is null ? "etcdctl is not on PATH (Debian etcd-client; scripts/install-test-deps.sh)" : null);
}

internal static class EtcdSkip
{
    /// <summary>
    /// The skip reason for a test whose tools <paramref name="missing"/> reports absent (null when
    /// present); always null under CI=true, where the test runs and fails on the missing tool.
    /// </summary>
    public static string? Reason(Func<string?> missing) =>
        !EtcdTools.IsCi && missing() is { } reason
            ? reason + " (under CI=true this test fails instead of skipping)"
            : null;
}
