using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Conclave.Server.Metrics;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Conclave.Api.Etcd;

/// <summary>
/// Counters and the handling-time histogram of the etcd front end, written in the Prometheus text
/// format with the names etcd and go-grpc-prometheus use (grpc_server_started_total,
/// grpc_server_handled_total, grpc_server_handling_seconds), so existing dashboards find them.
/// </summary>
public sealed class EtcdMetrics
{
    public const string HandlingName = "grpc_server_handling_seconds";

    /// <summary>go-grpc-prometheus' default buckets (Prometheus' DefBuckets), which etcd keeps.</summary>
    private static readonly double[] HandlingBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly ConcurrentDictionary<(string Service, string Method, string Type), long> _started = new();
    private readonly ConcurrentDictionary<(string Service, string Method, string Type, StatusCode Code), long> _handled = new();
    private readonly ConcurrentDictionary<(string Service, string Method, string Type), Histogram> _handling = new();

    public void Started(string service, string method, string type) =>
        _started.AddOrUpdate((service, method, type), 1, (_, n) => n + 1);

    public void Handled(string service, string method, string type, StatusCode code) =>
        _handled.AddOrUpdate((service, method, type, code), 1, (_, n) => n + 1);

    /// <summary>The handling-time histogram of one method (created on its first call): from the call reaching the interceptor to its handler finishing, whatever the status.</summary>
    public Histogram Handling(string service, string method, string type) =>
        _handling.GetOrAdd((service, method, type), static _ => new Histogram(HandlingBounds));

    public long HandledCount(string method, StatusCode code) =>
        _handled.Where(kv => kv.Key.Method == method && kv.Key.Code == code).Sum(kv => kv.Value);

    /// <summary>Appends the counters (sorted, so the text is stable) to <paramref name="text"/>.</summary>
    public void WriteTo(StringBuilder text)
    {
        text.Append("# HELP grpc_server_started_total Total number of RPCs started on the server.\n");
        text.Append("# TYPE grpc_server_started_total counter\n");
        foreach (var ((service, method, type), n) in _started.OrderBy(kv => kv.Key.Service).ThenBy(kv => kv.Key.Method))
        {
            text.Append(CultureInfo.InvariantCulture, $"grpc_server_started_total{{grpc_method=\"{method}\",grpc_service=\"{service}\",grpc_type=\"{type}\"}} {n}\n");
        }
        text.Append("# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.\n");
        text.Append("# TYPE grpc_server_handled_total counter\n");
        foreach (var ((service, method, type, code), n) in _handled.OrderBy(kv => kv.Key.Service).ThenBy(kv => kv.Key.Method).ThenBy(kv => kv.Key.Code))
        {
            text.Append(CultureInfo.InvariantCulture, $"grpc_server_handled_total{{grpc_code=\"{code}\",grpc_method=\"{method}\",grpc_service=\"{service}\",grpc_type=\"{type}\"}} {n}\n");
        }
        Histogram.WriteHeader(text, HandlingName, "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.");
        foreach (var ((service, method, type), histogram) in _handling.OrderBy(kv => kv.Key.Service, StringComparer.Ordinal).ThenBy(kv => kv.Key.Method, StringComparer.Ordinal))
        {
            histogram.WriteTo(text, HandlingName, $"grpc_method=\"{method}\",grpc_service=\"{service}\",grpc_type=\"{type}\"");
        }
    }
}

/// <summary>Counts every call into <see cref="EtcdMetrics"/> with its final status code.</summary>
public sealed class EtcdMetricsInterceptor(EtcdMetrics metrics) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var (service, method) = Split(context.Method);
        metrics.Started(service, method, "unary");
        var started = Stopwatch.GetTimestamp();
        var code = StatusCode.OK;
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            code = e.StatusCode;
            throw;
        }
        catch (OperationCanceledException)
        {
            code = StatusCode.Cancelled;
            throw;
        }
        catch
        {
            code = StatusCode.Unknown;
            throw;
        }
        finally
        {
            metrics.Handling(service, method, "unary").Observe(Stopwatch.GetElapsedTime(started));
            metrics.Handled(service, method, "unary", code);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var (service, method) = Split(context.Method);
        metrics.Started(service, method, "bidi_stream");
        var code = StatusCode.OK;
        try
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            code = e.StatusCode;
            throw;
        }
        catch
        {
            code = StatusCode.Unknown;
            throw;
        }
        finally
        {
            metrics.Handled(service, method, "bidi_stream", code);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var (service, method) = Split(context.Method);
        metrics.Started(service, method, "server_stream");
        var code = StatusCode.OK;
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            code = e.StatusCode;
            throw;
        }
        catch
        {
            code = StatusCode.Unknown;
            throw;
        }
        finally
        {
            metrics.Handled(service, method, "server_stream", code);
        }
    }

    /// <summary>The split of every method path seen (one per gRPC method), so a call allocates no strings.</summary>
    private static readonly ConcurrentDictionary<string, (string Service, string Method)> SplitPaths = new(StringComparer.Ordinal);

    /// <summary>"/etcdserverpb.KV/Range" → ("etcdserverpb.KV", "Range").</summary>
    private static (string Service, string Method) Split(string path) => SplitPaths.GetOrAdd(path, SplitUncached);

    private static (string Service, string Method) SplitUncached(string path)
    {
        var trimmed = path.TrimStart('/');
        var slash = trimmed.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (trimmed, "") : (trimmed[..slash], trimmed[(slash + 1)..]);
    }
}
