using Conclave.Testing.Etcd;

namespace Conclave.Api.Etcd.Tests;

/// <summary>
/// A fact that needs the real etcd tools. Outside CI it is skipped, with the reason, when a
/// tool is missing; under CI=true it always runs, so a missing tool fails it.
/// </summary>
public sealed class EtcdFactAttribute : FactAttribute
{
    public EtcdFactAttribute()
    {
        if (!EtcdTools.IsCi && EtcdTools.MissingReason() is { } reason)
        {
            Skip = reason + " (under CI=true this test fails instead of skipping)";
        }
    }
}

/// <summary>The <see cref="EtcdFactAttribute"/> rule for theories.</summary>
public sealed class EtcdTheoryAttribute : TheoryAttribute
{
    public EtcdTheoryAttribute()
    {
        if (!EtcdTools.IsCi && EtcdTools.MissingReason() is { } reason)
        {
            Skip = reason + " (under CI=true this test fails instead of skipping)";
        }
    }
}
