using System.Diagnostics;

namespace Conclave.Testing.Etcd;

/// <summary>
/// A real single-member etcd (Debian's `etcd` binary) on free 127.0.0.1 ports with its own
/// temporary data directory, for differential tests. <see cref="StartAsync"/> returns once the
/// member answers a linearizable read (so it has a leader); <see cref="DisposeAsync"/> kills
/// it and deletes the data directory.
/// </summary>
public sealed class RealEtcd : IAsyncDisposable
{
    private const int LogLinesKept = 200;
    private const int StartAttempts = 3;

    private readonly Process _process;
    private readonly DirectoryInfo _dataDirectory;
    private readonly Queue<string> _log = new();
    private readonly Lock _logLock = new();

    private RealEtcd(Process process, DirectoryInfo dataDirectory, string name, int clientPort, int peerPort)
    {
        _process = process;
        _dataDirectory = dataDirectory;
        Name = name;
        ClientPort = clientPort;
        PeerPort = peerPort;
    }

    /// <summary>The member name (etcd --name), as member list prints it.</summary>
    public string Name { get; }

    public int ClientPort { get; }

    public int PeerPort { get; }

    public string Host => "127.0.0.1";

    /// <summary>The client URL, e.g. http://127.0.0.1:41234 (gRPC over h2c and the JSON gateway).</summary>
    public Uri ClientUrl => new($"http://{Host}:{ClientPort}");

    /// <summary>host:port, the form etcdctl --endpoints and python3-etcd3 take.</summary>
    public string Endpoint => $"{Host}:{ClientPort}";

    public string DataDirectory => _dataDirectory.FullName;

    /// <summary>From the ResponseHeader of the readiness read.</summary>
    public ulong ClusterId { get; private set; }

    /// <summary>From the ResponseHeader of the readiness read.</summary>
    public ulong MemberId { get; private set; }

    /// <summary>A mask for this member's ids, for comparing etcdctl output with another server's.</summary>
    public EtcdOutputMask OutputMask() => new(ClusterId, MemberId);

    /// <summary>The last lines etcd wrote to stdout and stderr, for failure messages.</summary>
    public string RecentLog
    {
        get
        {
            lock (_logLock)
            {
                return string.Join('\n', _log);
            }
        }
    }

    public Etcdctl Etcdctl() => new(Endpoint);

    public PythonEtcd3 Python() => new(Host, ClientPort);

    /// <summary>
    /// Starts etcd and waits until it serves a linearizable Range, for at most
    /// <paramref name="readyTimeout"/> (default 30 s). Retries with new ports (up to 3 times)
    /// when etcd exits before it is ready, since a free port can be taken by someone else
    /// before etcd binds it. Throws with etcd's log when it cannot start.
    /// </summary>
    public static async Task<RealEtcd> StartAsync(
        string name = "default", TimeSpan? readyTimeout = null, CancellationToken cancellationToken = default)
    {
        var etcdPath = EtcdTools.EtcdPath
            ?? throw new InvalidOperationException(EtcdTools.MissingReason() ?? "etcd is not on PATH");
        var timeout = readyTimeout ?? TimeSpan.FromSeconds(30);
        for (var attempt = 1; ; attempt++)
        {
            var etcd = Launch(etcdPath, name);
            try
            {
                await etcd.WaitReadyAsync(timeout, cancellationToken);
                return etcd;
            }
            catch (EtcdExitedException) when (attempt < StartAttempts)
            {
                await etcd.DisposeAsync();
            }
            catch
            {
                await etcd.DisposeAsync();
                throw;
            }
        }
    }

    private static RealEtcd Launch(string etcdPath, string name)
    {
        var ports = FreePort.Take(2);
        var dataDirectory = Directory.CreateTempSubdirectory("conclave-etcd-");
        var clientUrl = $"http://127.0.0.1:{ports[0]}";
        var peerUrl = $"http://127.0.0.1:{ports[1]}";
        var startInfo = new ProcessStartInfo(etcdPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[
            "--name", name,
            "--data-dir", dataDirectory.FullName,
            "--listen-client-urls", clientUrl,
            "--advertise-client-urls", clientUrl,
            "--listen-peer-urls", peerUrl,
            "--initial-advertise-peer-urls", peerUrl,
            "--initial-cluster", $"{name}={peerUrl}",
            "--initial-cluster-state", "new",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ])
        {
            startInfo.ArgumentList.Add(argument);
        }
        // etcd reads ETCD_* variables as flags; do not let the caller's environment change this member.
        foreach (var variable in startInfo.Environment.Keys.Where(k => k.StartsWith("ETCD_", StringComparison.Ordinal)).ToList())
        {
            startInfo.Environment.Remove(variable);
        }

        var process = new Process { StartInfo = startInfo };
        var etcd = new RealEtcd(process, dataDirectory, name, ports[0], ports[1]);
        process.OutputDataReceived += (_, e) => etcd.AppendLog(e.Data);
        process.ErrorDataReceived += (_, e) => etcd.AppendLog(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return etcd;
    }

    private void AppendLog(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_logLock)
        {
            _log.Enqueue(line);
            while (_log.Count > LogLinesKept)
            {
                _log.Dequeue();
            }
        }
    }

    /// <summary>
    /// Waits (<see cref="ReadinessProbe"/>) until etcd answers a linearizable Range, so it has a
    /// leader; keeps the ids of its answer.
    /// </summary>
    private async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var exited = _process.WaitForExitAsync(cancellationToken);
        var ready = await ReadinessProbe.WaitAsync(ClientUrl, exited, timeout, cancellationToken: cancellationToken);
        switch (ready.Outcome)
        {
            case Readiness.Exited:
                await exited;
                throw new EtcdExitedException(
                    $"etcd exited with code {_process.ExitCode} before it was ready\n--- etcd log ---\n{RecentLog}");
            case Readiness.TimedOut:
                throw new InvalidOperationException(
                    $"etcd at {Endpoint} did not answer a Range on \"health\" within {timeout.TotalSeconds:0.#} s " +
                    $"({ready.LastError?.StatusCode}: {ready.LastError?.Status.Detail})\n--- etcd log ---\n{RecentLog}", ready.LastError);
        }
        (ClusterId, MemberId) = (ready.ClusterId, ready.MemberId);
    }

    /// <summary>
    /// cluster_id (1) and member_id (2) of the ResponseHeader in field 1 of a RangeResponse,
    /// decoded by hand: the test kit does not depend on the generated protocol types.
    /// </summary>
    public static (ulong ClusterId, ulong MemberId) ReadHeaderIds(ReadOnlySpan<byte> rangeResponse)
    {
        var position = 0;
        while (position < rangeResponse.Length)
        {
            var tag = ReadVarint(rangeResponse, ref position);
            var (field, wireType) = ((int)(tag >> 3), (int)(tag & 7));
            if (wireType == 0)
            {
                ReadVarint(rangeResponse, ref position);
                continue;
            }
            if (wireType != 2)
            {
                throw new FormatException($"unexpected wire type {wireType} in RangeResponse");
            }
            var length = (int)ReadVarint(rangeResponse, ref position);
            if (field == 1)
            {
                var header = rangeResponse.Slice(position, length);
                ulong clusterId = 0, memberId = 0;
                var inner = 0;
                while (inner < header.Length)
                {
                    var headerTag = ReadVarint(header, ref inner);
                    var value = ReadVarint(header, ref inner);
                    switch (headerTag)
                    {
                        case (1 << 3) | 0:
                            clusterId = value;
                            break;
                        case (2 << 3) | 0:
                            memberId = value;
                            break;
                    }
                }
                return (clusterId, memberId);
            }
            position += length;
        }
        throw new FormatException("RangeResponse has no header");
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> buffer, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = buffer[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
        throw new FormatException("varint longer than 10 bytes");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started: nothing to stop.
        }
        _process.Dispose();
        try
        {
            _dataDirectory.Delete(recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private sealed class EtcdExitedException(string message) : Exception(message);
}
