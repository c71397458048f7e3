using Conclave.Api.Etcd.Protocol;
using Conclave.Api.Etcd.Services;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Conclave.Api.Etcd;

/// <summary>
/// etcd's JSON gateway (grpc-gateway v1) for the unary calls: <c>POST /v3/&lt;area&gt;/&lt;method&gt;</c>
/// with the request as protobuf JSON (snake_case or camelCase names, int64 as strings, bytes as
/// base64), answered with protobuf JSON using the proto's own field names and without zero values.
/// An error answers <c>{"error","code","message"}</c> with the HTTP status grpc-gateway uses for its
/// gRPC code. The streaming calls (watch, keep-alive, snapshot, observe) are not on the gateway.
/// </summary>
public static class EtcdGateway
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default);

    public static IEndpointRouteBuilder MapEtcdGateway(this IEndpointRouteBuilder app)
    {
        foreach (var prefix in new[] { "/v3", "/v3beta" })
        {
            Map<RangeRequest, RangeResponse, KvService>(app, $"{prefix}/kv/range", (s, r, c) => s.Range(r, c));
            Map<PutRequest, PutResponse, KvService>(app, $"{prefix}/kv/put", (s, r, c) => s.Put(r, c));
            Map<DeleteRangeRequest, DeleteRangeResponse, KvService>(app, $"{prefix}/kv/deleterange", (s, r, c) => s.DeleteRange(r, c));
            Map<TxnRequest, TxnResponse, KvService>(app, $"{prefix}/kv/txn", (s, r, c) => s.Txn(r, c));
            Map<CompactionRequest, CompactionResponse, KvService>(app, $"{prefix}/kv/compaction", (s, r, c) => s.Compact(r, c));

            Map<LeaseGrantRequest, LeaseGrantResponse, LeaseService>(app, $"{prefix}/lease/grant", (s, r, c) => s.LeaseGrant(r, c));
            foreach (var area in new[] { "lease", "kv/lease" })
            {
                Map<LeaseRevokeRequest, LeaseRevokeResponse, LeaseService>(app, $"{prefix}/{area}/revoke", (s, r, c) => s.LeaseRevoke(r, c));
                Map<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, LeaseService>(app, $"{prefix}/{area}/timetolive", (s, r, c) => s.LeaseTimeToLive(r, c));
                Map<LeaseLeasesRequest, LeaseLeasesResponse, LeaseService>(app, $"{prefix}/{area}/leases", (s, r, c) => s.LeaseLeases(r, c));
            }

            Map<MemberListRequest, MemberListResponse, ClusterService>(app, $"{prefix}/cluster/member/list", (s, r, c) => s.MemberList(r, c));
            Map<MemberAddRequest, MemberAddResponse, ClusterService>(app, $"{prefix}/cluster/member/add", (s, r, c) => s.MemberAdd(r, c));
            Map<MemberRemoveRequest, MemberRemoveResponse, ClusterService>(app, $"{prefix}/cluster/member/remove", (s, r, c) => s.MemberRemove(r, c));
            Map<MemberUpdateRequest, MemberUpdateResponse, ClusterService>(app, $"{prefix}/cluster/member/update", (s, r, c) => s.MemberUpdate(r, c));
            Map<MemberPromoteRequest, MemberPromoteResponse, ClusterService>(app, $"{prefix}/cluster/member/promote", (s, r, c) => s.MemberPromote(r, c));

            Map<StatusRequest, StatusResponse, MaintenanceService>(app, $"{prefix}/maintenance/status", (s, r, c) => s.Status(r, c));
            Map<AlarmRequest, AlarmResponse, MaintenanceService>(app, $"{prefix}/maintenance/alarm", (s, r, c) => s.Alarm(r, c));
            Map<DefragmentRequest, DefragmentResponse, MaintenanceService>(app, $"{prefix}/maintenance/defragment", (s, r, c) => s.Defragment(r, c));
            Map<HashRequest, HashResponse, MaintenanceService>(app, $"{prefix}/maintenance/hash", (s, r, c) => s.Hash(r, c));
            Map<HashKVRequest, HashKVResponse, MaintenanceService>(app, $"{prefix}/maintenance/hashkv", (s, r, c) => s.HashKV(r, c));
            Map<MoveLeaderRequest, MoveLeaderResponse, MaintenanceService>(app, $"{prefix}/maintenance/transfer-leadership", (s, r, c) => s.MoveLeader(r, c));

            Map<AuthStatusRequest, AuthStatusResponse, AuthService>(app, $"{prefix}/auth/status", (s, r, c) => s.AuthStatus(r, c));
            Map<AuthenticateRequest, AuthenticateResponse, AuthService>(app, $"{prefix}/auth/authenticate", (s, r, c) => s.Authenticate(r, c));
            Map<AuthEnableRequest, AuthEnableResponse, AuthService>(app, $"{prefix}/auth/enable", (s, r, c) => s.AuthEnable(r, c));
            Map<AuthDisableRequest, AuthDisableResponse, AuthService>(app, $"{prefix}/auth/disable", (s, r, c) => s.AuthDisable(r, c));

            Map<Protocol.V3LockPb.LockRequest, Protocol.V3LockPb.LockResponse, LockService>(app, $"{prefix}/lock/lock", (s, r, c) => s.Lock(r, c));
            Map<Protocol.V3LockPb.UnlockRequest, Protocol.V3LockPb.UnlockResponse, LockService>(app, $"{prefix}/lock/unlock", (s, r, c) => s.Unlock(r, c));
            Map<Protocol.V3ElectionPb.CampaignRequest, Protocol.V3ElectionPb.CampaignResponse, ElectionService>(app, $"{prefix}/election/campaign", (s, r, c) => s.Campaign(r, c));
            Map<Protocol.V3ElectionPb.ProclaimRequest, Protocol.V3ElectionPb.ProclaimResponse, ElectionService>(app, $"{prefix}/election/proclaim", (s, r, c) => s.Proclaim(r, c));
            Map<Protocol.V3ElectionPb.LeaderRequest, Protocol.V3ElectionPb.LeaderResponse, ElectionService>(app, $"{prefix}/election/leader", (s, r, c) => s.Leader(r, c));
            Map<Protocol.V3ElectionPb.ResignRequest, Protocol.V3ElectionPb.ResignResponse, ElectionService>(app, $"{prefix}/election/resign", (s, r, c) => s.Resign(r, c));
        }
        return app;
    }

    private static void Map<TRequest, TResponse, TService>(
        IEndpointRouteBuilder app, string path, Func<TService, TRequest, ServerCallContext, Task<TResponse>> call)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>
        where TService : class
    {
        app.MapPost(path, async (HttpContext http) =>
        {
            TRequest request;
            try
            {
                using var reader = new StreamReader(http.Request.Body);
                var body = await reader.ReadToEndAsync(http.RequestAborted).ConfigureAwait(false);
                request = string.IsNullOrWhiteSpace(body) ? new TRequest() : Parser.Parse<TRequest>(body);
            }
            catch (InvalidProtocolBufferException e)
            {
                await WriteErrorAsync(http, new Grpc.Core.Status(StatusCode.InvalidArgument, e.Message)).ConfigureAwait(false);
                return;
            }
            catch (InvalidJsonException e)
            {
                await WriteErrorAsync(http, new Grpc.Core.Status(StatusCode.InvalidArgument, e.Message)).ConfigureAwait(false);
                return;
            }
            var service = ActivatorUtilities.GetServiceOrCreateInstance<TService>(http.RequestServices);
            try
            {
                var response = await call(service, request, new GatewayCallContext(path, http)).ConfigureAwait(false);
                http.Response.ContentType = "application/json";
                await http.Response.WriteAsync(Compact(Formatter.Format(response)), http.RequestAborted).ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                await WriteErrorAsync(http, e.Status).ConfigureAwait(false);
            }
        });
    }

    /// <summary>grpc-gateway writes JSON without spaces; the protobuf formatter puts spaces after separators.</summary>
    private static string Compact(string json) => System.Text.Json.Nodes.JsonNode.Parse(json)!.ToJsonString();

    private static Task WriteErrorAsync(HttpContext http, Grpc.Core.Status status)
    {
        http.Response.StatusCode = HttpStatus(status.StatusCode);
        http.Response.ContentType = "application/json";
        var body = System.Text.Json.JsonSerializer.Serialize(new GatewayError(status.Detail, (int)status.StatusCode, status.Detail), GatewayJson.Default.GatewayError);
        return http.Response.WriteAsync(body, http.RequestAborted);
    }

    /// <summary>grpc-gateway v1's mapping of gRPC codes to HTTP statuses.</summary>
    internal static int HttpStatus(StatusCode code) => code switch
    {
        StatusCode.OK => 200,
        StatusCode.Cancelled => 408,
        StatusCode.Unknown => 500,
        StatusCode.InvalidArgument => 400,
        StatusCode.DeadlineExceeded => 504,
        StatusCode.NotFound => 404,
        StatusCode.AlreadyExists => 409,
        StatusCode.PermissionDenied => 403,
        StatusCode.Unauthenticated => 401,
        StatusCode.ResourceExhausted => 429,
        StatusCode.FailedPrecondition => 400,
        StatusCode.Aborted => 409,
        StatusCode.OutOfRange => 400,
        StatusCode.Unimplemented => 501,
        StatusCode.Internal => 500,
        StatusCode.Unavailable => 503,
        StatusCode.DataLoss => 500,
        _ => 500,
    };

    /// <summary>The call context a service sees when the gateway calls it: the HTTP request's abort token and headers.</summary>
    private sealed class GatewayCallContext(string method, HttpContext http) : ServerCallContext
    {
        private readonly Metadata _trailers = [];

        protected override string MethodCore => method;

        protected override string HostCore => http.Request.Host.Value ?? "";

        protected override string PeerCore => http.Connection.RemoteIpAddress?.ToString() ?? "";

        protected override DateTime DeadlineCore => DateTime.MaxValue;

        protected override Metadata RequestHeadersCore => [];

        protected override CancellationToken CancellationTokenCore => http.RequestAborted;

        protected override Metadata ResponseTrailersCore => _trailers;

        protected override Grpc.Core.Status StatusCore { get; set; }

        protected override WriteOptions? WriteOptionsCore { get; set; }

        protected override AuthContext AuthContextCore => new(null, []);

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
            throw new NotSupportedException("gateway calls do not propagate");

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}

internal sealed record GatewayError(
    [property: System.Text.Json.Serialization.JsonPropertyName("error")] string Error,
    [property: System.Text.Json.Serialization.JsonPropertyName("code")] int Code,
    [property: System.Text.Json.Serialization.JsonPropertyName("message")] string Message);

[System.Text.Json.Serialization.JsonSerializable(typeof(GatewayError))]
internal sealed partial class GatewayJson : System.Text.Json.Serialization.JsonSerializerContext;
