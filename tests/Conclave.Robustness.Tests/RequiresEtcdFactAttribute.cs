using Conclave.Testing.Etcd;

namespace Conclave.Robustness.Tests;

/// <summary>A fact that needs Debian's etcd binary: skipped without it, except under CI=true where the test fails instead.</summary>
public sealed class RequiresEtcdFactAttribute : FactAttribute
{
    public RequiresEtcdFactAttribute()
    {
        if (!EtcdTools.IsCi && EtcdTools.EtcdPath is null)
        {
            Skip = "etcd is not on PATH (Debian etcd-server; scripts/install-test-deps.sh); under CI=true this test fails instead of skipping";
        }
    }
}
