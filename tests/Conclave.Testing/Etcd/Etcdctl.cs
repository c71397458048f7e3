namespace Conclave.Testing.Etcd;

/// <summary>
/// Runs Debian's etcdctl (API v3) against one endpoint. Any ETCDCTL_* variables of the test
/// process are removed so only the arguments given here take effect.
/// </summary>
public sealed class Etcdctl(string endpoint)
{
    /// <summary>Used when a call passes no timeout; etcdctl's own command timeout is 5 s.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public string Endpoint { get; } = endpoint;

    /// <summary>
    /// Runs `etcdctl --endpoints=ENDPOINT ARGS...`; <paramref name="stdin"/> feeds commands that
    /// read it (txn). A command that does not exit (watch without --rev bounds) is killed after
    /// <paramref name="timeout"/> and reported as a <see cref="TimeoutException"/>.
    /// </summary>
    public Task<ToolResult> RunAsync(
        IEnumerable<string> arguments, string? stdin = null, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        return ToolProcess.RunAsync(
            ToolPath(), arguments.Prepend($"--endpoints={Endpoint}"), timeout ?? DefaultTimeout, Environment(), stdin,
            cancellationToken);
    }

    /// <summary>
    /// Runs a command that does not exit by itself (`watch`, even with --rev; `elect -l`) until
    /// its stdout satisfies <paramref name="isComplete"/>, then stops it. See
    /// <see cref="ToolProcess.RunUntilAsync"/>.
    /// </summary>
    public Task<ToolResult> RunUntilAsync(
        IEnumerable<string> arguments, Func<string, bool> isComplete, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default) =>
        ToolProcess.RunUntilAsync(
            ToolPath(), arguments.Prepend($"--endpoints={Endpoint}"), isComplete, timeout ?? DefaultTimeout,
            Environment(), cancellationToken);

    private static string ToolPath() =>
        EtcdTools.EtcdctlPath
            ?? throw new InvalidOperationException(EtcdTools.MissingReason() ?? "etcdctl is not on PATH");

    private static Dictionary<string, string?> Environment()
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["ETCDCTL_API"] = "3",
        };
        foreach (var name in System.Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            if (name.StartsWith("ETCDCTL_", StringComparison.Ordinal) && name != "ETCDCTL_API")
            {
                environment[name] = null;
            }
        }
        return environment;
    }

    public Task<ToolResult> RunAsync(params string[] arguments) => RunAsync(arguments, stdin: null);
}
