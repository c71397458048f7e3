namespace Conclave.Testing.Etcd;

/// <summary>
/// Where the third-party etcd tools are and whether they are installed
/// (scripts/install-test-deps.sh installs them: Debian's etcd-server, etcd-client, python3-etcd3).
/// </summary>
public static class EtcdTools
{
    /// <summary>Debian's python3-etcd3 is installed for this interpreter only; a `python3` on
    /// PATH may be a pyenv or venv interpreter that cannot import it.</summary>
    public const string SystemPython = "/usr/bin/python3";

    /// <summary>True under CI (CI=true): a missing tool must fail the test, never skip it.</summary>
    public static bool IsCi =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? EtcdPath => FindOnPath("etcd");

    public static string? EtcdctlPath => FindOnPath("etcdctl");

    /// <summary>
    /// Why the etcd compatibility tests cannot run here, or null when etcd, etcdctl and
    /// python3-etcd3 are all installed. Checking python3-etcd3 starts a Python process.
    /// </summary>
    public static string? MissingReason()
    {
        var missing = new List<string>();
        if (EtcdPath is null)
        {
            missing.Add("etcd (Debian etcd-server)");
        }
        if (EtcdctlPath is null)
        {
            missing.Add("etcdctl (Debian etcd-client)");
        }
        if (!HasPythonEtcd3.Value)
        {
            missing.Add($"python3-etcd3 ({SystemPython} -c 'import etcd3' failed)");
        }
        return missing.Count == 0
            ? null
            : $"not installed: {string.Join(", ", missing)}; run scripts/install-test-deps.sh as root";
    }

    /// <summary>Throws with <see cref="MissingReason"/> when a tool is missing.</summary>
    public static void Require()
    {
        if (MissingReason() is { } reason)
        {
            throw new InvalidOperationException(reason);
        }
    }

    private static readonly Lazy<bool> HasPythonEtcd3 = new(() =>
    {
        if (!File.Exists(SystemPython))
        {
            return false;
        }
        var result = ToolProcess.RunAsync(SystemPython, ["-c", "import etcd3"], TimeSpan.FromSeconds(30))
            .GetAwaiter().GetResult();
        return result.Succeeded;
    });

    private static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
