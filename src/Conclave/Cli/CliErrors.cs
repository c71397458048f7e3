using System.Net.Sockets;
using Conclave.Client;
using Grpc.Core;

namespace Conclave.Cli;

/// <summary>
/// The one place that turns an exception into a sentence a person understands and an exit code.
/// When the cluster is unavailable it probes every endpoint with a plain TCP connect, so the
/// message says which members are unreachable and why ("connection refused").
/// </summary>
public static class CliErrors
{
    public static async Task<(string Message, int ExitCode)> DescribeAsync(Exception e, CliSettings settings, CancellationToken cancellationToken)
    {
        switch (e)
        {
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
                return ("interrupted", ExitCodes.Interrupted);
            case CliUsageException:
                return (e.Message, ExitCodes.Usage);
            case CliFailureException f:
                return (f.Message, f.ExitCode);
            case NoLeaderException:
                {
                    var unreachable = await UnreachableAsync(settings, cancellationToken);
                    return (unreachable.Count > 0
                        ? $"no leader: {unreachable.Count} of {settings.Endpoints.Count} members unreachable: {string.Join("; ", unreachable)}"
                        : "no leader: the cluster is electing one or has lost its quorum (etcdserver: no leader)", ExitCodes.Unavailable);
                }
            case ClusterUnavailableException:
                {
                    var unreachable = await UnreachableAsync(settings, cancellationToken);
                    if (unreachable.Count == settings.Endpoints.Count)
                    {
                        return ($"cannot reach {string.Join("; ", unreachable)}", ExitCodes.Unavailable);
                    }
                    var prefix = unreachable.Count > 0
                        ? $"{unreachable.Count} of {settings.Endpoints.Count} members unreachable ({string.Join("; ", unreachable)}); "
                        : "";
                    return ($"cluster unavailable: {prefix}{e.Message}", ExitCodes.Unavailable);
                }
            case ServerTimeoutException:
                return (await WithUnreachableAsync($"request timed out; it may or may not have been applied ({e.Message})", settings, cancellationToken), ExitCodes.Unavailable);
            case CompactedException c:
                return (c.CompactRevision > 0
                    ? $"the requested revision has been compacted (history starts at revision {c.CompactRevision})"
                    : "the requested revision has been compacted", ExitCodes.Failed);
            case FutureRevisionException:
                return ("the requested revision is newer than the store's current revision", ExitCodes.Failed);
            case LeaseNotFoundException:
                return ("lease not found (never granted, revoked, or expired)", ExitCodes.Failed);
            case ConclaveException c when c.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Unavailable or StatusCode.Cancelled:
                return (await WithUnreachableAsync($"no answer within {Seconds(settings.Timeout)}: {c.Message}", settings, cancellationToken), ExitCodes.Unavailable);
            case ConclaveException c:
                return (c.Message, ExitCodes.Failed);
            case RpcException r when r.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Cancelled:
                return (await WithUnreachableAsync($"no answer within {Seconds(settings.Timeout)}", settings, cancellationToken), ExitCodes.Unavailable);
            case RpcException r when r.StatusCode is StatusCode.Unavailable:
                return (await WithUnreachableAsync($"member unavailable: {r.Status.Detail}", settings, cancellationToken), ExitCodes.Unavailable);
            case RpcException r:
                return (r.Status.Detail.Length > 0 ? r.Status.Detail : r.StatusCode.ToString(), ExitCodes.Failed);
            case IOException or UnauthorizedAccessException:
                return (e.Message, ExitCodes.Failed);
            default:
                // A bug of ours: still one line, with the type so it can be reported.
                return ($"unexpected {e.GetType().Name}: {e.Message}", ExitCodes.Failed);
        }
    }

    /// <summary>The message, followed by which endpoints are unreachable when some are (a timeout often means a lost quorum).</summary>
    private static async Task<string> WithUnreachableAsync(string message, CliSettings settings, CancellationToken cancellationToken)
    {
        var unreachable = await UnreachableAsync(settings, cancellationToken);
        return unreachable.Count == 0
            ? message
            : $"{message}; {unreachable.Count} of {settings.Endpoints.Count} members unreachable: {string.Join("; ", unreachable)}";
    }

    /// <summary>"host:port: reason" for every endpoint that refuses or ignores a TCP connect.</summary>
    public static async Task<IReadOnlyList<string>> UnreachableAsync(CliSettings settings, CancellationToken cancellationToken)
    {
        var timeout = settings.Timeout < TimeSpan.FromSeconds(2) ? settings.Timeout : TimeSpan.FromSeconds(2);
        var probes = settings.Endpoints.Select(async endpoint =>
        {
            var reason = await ProbeAsync(endpoint, timeout, cancellationToken);
            return reason is null ? null : $"{HostPort(endpoint)}: {reason}";
        });
        return (await Task.WhenAll(probes)).OfType<string>().ToList();
    }

    /// <summary>Null when a TCP connection to the endpoint can be opened, else why not.</summary>
    public static async Task<string?> ProbeAsync(string endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var uri = new Uri(endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(uri.Host, uri.Port, deadline.Token);
            return null;
        }
        catch (SocketException s)
        {
            return s.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused",
                SocketError.HostNotFound or SocketError.NoData => "unknown host",
                SocketError.TimedOut => "timed out",
                SocketError.NetworkUnreachable or SocketError.HostUnreachable => "unreachable",
                _ => s.Message,
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"no answer to a connect within {Seconds(timeout)}";
        }
    }

    public static string HostPort(string endpoint) =>
        endpoint.Contains("://", StringComparison.Ordinal) ? new Uri(endpoint).Authority : endpoint;

    private static string Seconds(TimeSpan t) => $"{t.TotalSeconds:0.###} s";
}
