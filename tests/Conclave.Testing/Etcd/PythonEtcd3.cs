namespace Conclave.Testing.Etcd;

/// <summary>
/// Runs Python snippets against one endpoint with Debian's python3-etcd3 under
/// <see cref="EtcdTools.SystemPython"/>. Each snippet runs after a prelude that defines
/// <c>client = etcd3.client(host=..., port=...)</c>; what it prints is the result's stdout.
/// </summary>
public sealed class PythonEtcd3(string host, int port)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private const string Prelude = """
        import os
        import sys
        import etcd3
        client = etcd3.client(host=os.environ["CONCLAVE_ETCD_HOST"], port=int(os.environ["CONCLAVE_ETCD_PORT"]))

        """;

    public string Host { get; } = host;

    public int Port { get; } = port;

    /// <summary>Runs <paramref name="snippet"/> (Python source, module level) and returns its output and exit code.</summary>
    public Task<ToolResult> RunAsync(string snippet, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["CONCLAVE_ETCD_HOST"] = Host,
            ["CONCLAVE_ETCD_PORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // The system interpreter must not pick up a virtualenv's or pyenv's modules.
            ["PYTHONPATH"] = null,
            ["PYTHONHOME"] = null,
            ["PYTHONDONTWRITEBYTECODE"] = "1",
        };
        return ToolProcess.RunAsync(
            EtcdTools.SystemPython, ["-"], timeout ?? DefaultTimeout, environment, Prelude + snippet + "\n",
            cancellationToken);
    }
}
