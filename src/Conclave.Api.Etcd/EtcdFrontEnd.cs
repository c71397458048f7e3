using System.Globalization;
using System.Text;
using Conclave.Api.Etcd.Services;
using Grpc.AspNetCore.Server.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Conclave.Api.Etcd;

/// <summary>
/// Wires the etcd front end into an ASP.NET Core host: <see cref="AddEtcdFrontEnd"/> registers the
/// gRPC services and what they need; <see cref="MapEtcdGrpc"/> maps them (serve it on an HTTP/2-only
/// endpoint, as h2c); <see cref="MapEtcdHttp"/> maps /health, /version, /metrics and the JSON gateway
/// (serve it on an HTTP/1.1 endpoint).
/// </summary>
public static class EtcdFrontEnd
{
    public static IServiceCollection AddEtcdFrontEnd(this IServiceCollection services, IEtcdMember member, EtcdLimits limits)
    {
        services.AddSingleton(member);
        services.AddSingleton(limits);
        services.AddSingleton<EtcdMetrics>();
        services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = limits.MaxReceiveMessageBytes;
            o.MaxSendMessageSize = null;
            o.Interceptors.Add<EtcdMetricsInterceptor>();
        });
        // Our provider binds every service with request marshallers that report a protobuf that does
        // not parse as etcd does (MalformedRequests); grpc-dotnet's own provider would bind the same
        // routes a second time, so it is removed.
        var own = services.Where(d => d.ServiceType == typeof(IServiceMethodProvider<>)
            && d.ImplementationType is { IsGenericTypeDefinition: true } t && t.Name.StartsWith("BinderServiceMethodProvider", StringComparison.Ordinal)).ToList();
        if (own.Count != 1)
        {
            throw new InvalidOperationException($"expected grpc-dotnet's BinderServiceMethodProvider to be registered once, found {own.Count}");
        }
        services.Remove(own[0]);
        services.AddSingleton(typeof(IServiceMethodProvider<>), typeof(MalformedRequestMethodProvider<>));
        return services;
    }

    /// <summary>Maps the gRPC services (bound by <see cref="MalformedRequestMethodProvider{TService}"/>, registered by <see cref="AddEtcdFrontEnd"/>).</summary>
    public static IEndpointRouteBuilder MapEtcdGrpc(this IEndpointRouteBuilder app)
    {
        app.MapGrpcService<KvService>();
        app.MapGrpcService<WatchService>();
        app.MapGrpcService<LeaseService>();
        app.MapGrpcService<ClusterService>();
        app.MapGrpcService<MaintenanceService>();
        app.MapGrpcService<AuthService>();
        app.MapGrpcService<LockService>();
        app.MapGrpcService<ElectionService>();
        return app;
    }

    public static IEndpointRouteBuilder MapEtcdHttp(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", HealthAsync);
        app.MapGet("/version", VersionAsync);
        app.MapGet("/metrics", MetricsAsync);
        app.MapEtcdGateway();
        return app;
    }

    /// <summary>
    /// etcd's /health: unhealthy (503) without a leader, with an active alarm, or when a linearizable
    /// read fails; else {"health":"true","reason":""}.
    /// </summary>
    private static async Task HealthAsync(HttpContext http, IEtcdMember member)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var reason = "";
        try
        {
            var status = await member.Maintenance.StatusAsync(timeout.Token).ConfigureAwait(false);
            var alarms = await member.Maintenance.AlarmAsync(null, 0, Conclave.Server.StateMachine.AlarmType.None, timeout.Token).ConfigureAwait(false);
            if (!status.IsOk || status.Value!.Leader == 0)
            {
                reason = "RAFT NO LEADER";
            }
            else if (alarms.IsOk && alarms.Value!.Count > 0)
            {
                reason = "ALARM " + string.Join(',', alarms.Value.Select(a => a.Alarm.ToString().ToUpperInvariant()));
            }
            else
            {
                var read = await member.KeyValue
                    .RangeAsync(Conclave.Storage.Mvcc.RangeRequest.Single("health"u8.ToArray()), serializable: false, timeout.Token)
                    .ConfigureAwait(false);
                if (!read.IsOk)
                {
                    reason = "QGET ERROR:" + EtcdErrorMap.ToEtcdError(read.Status).Message;
                }
            }
        }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested)
        {
            reason = "QGET ERROR:" + EtcdErrors.Timeout.Message;
        }
        http.Response.StatusCode = reason.Length == 0 ? 200 : 503;
        http.Response.ContentType = "application/json";
        var healthy = reason.Length == 0 ? "true" : "false";
        await http.Response.WriteAsync(
            $"{{\"health\":\"{healthy}\",\"reason\":{System.Text.Json.JsonSerializer.Serialize(reason, GatewayStringJson.Default.String)}}}",
            http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>etcd's /version: {"etcdserver":"3.6.0","etcdcluster":"3.6.0"} (the cluster version is major.minor.0).</summary>
    private static async Task VersionAsync(HttpContext http, IEtcdMember member)
    {
        var status = await member.Maintenance.StatusAsync(http.RequestAborted).ConfigureAwait(false);
        var version = status.IsOk ? status.Value!.Version : "3.6.0";
        var parts = version.Split('.');
        var cluster = parts.Length >= 2 ? $"{parts[0]}.{parts[1]}.0" : version;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync($"{{\"etcdserver\":\"{version}\",\"etcdcluster\":\"{cluster}\"}}", http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// Prometheus text: a few member gauges under etcd's metric names, the member's latency
    /// histograms (<see cref="IEtcdMember.Metrics"/>), then the gRPC counters and handling times.
    /// </summary>
    private static async Task MetricsAsync(HttpContext http, IEtcdMember member, EtcdMetrics metrics)
    {
        var text = new StringBuilder();
        var status = await member.Maintenance.StatusAsync(http.RequestAborted).ConfigureAwait(false);
        if (status.IsOk)
        {
            var s = status.Value!;
            Gauge(text, "etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.", s.Leader != 0 ? 1 : 0);
            Gauge(text, "etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.", s.Leader == member.MemberId ? 1 : 0);
            Gauge(text, "etcd_server_is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.", s.IsLearner ? 1 : 0);
            Gauge(text, "etcd_server_term", "The raft term of this member.", (long)s.RaftTerm);
            Gauge(text, "etcd_server_proposals_committed_total", "The total number of consensus proposals committed.", (long)s.RaftIndex);
            Gauge(text, "etcd_server_proposals_applied_total", "The total number of consensus proposals applied.", (long)s.RaftAppliedIndex);
            Gauge(text, "etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes.", s.DbSize);
            Gauge(text, "etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes.", s.DbSizeInUse);
            Gauge(text, "etcd_debugging_mvcc_current_revision", "The current revision of store.", status.Header.Revision);
        }
        member.Metrics?.WriteTo(text);
        metrics.WriteTo(text);
        http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await http.Response.WriteAsync(text.ToString(), http.RequestAborted).ConfigureAwait(false);
    }

    private static void Gauge(StringBuilder text, string name, string help, long value)
    {
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class GatewayStringJson : System.Text.Json.Serialization.JsonSerializerContext;
