using Conclave.Api.Etcd.Protocol;
using Conclave.Server.Api;
using Google.Protobuf;
using Grpc.Core;

namespace Conclave.Api.Etcd.Services;

/// <summary>etcd's Lease service.</summary>
public sealed class LeaseService(IEtcdMember member) : Lease.LeaseBase
{
    public override Task<LeaseGrantResponse> LeaseGrant(LeaseGrantRequest request, ServerCallContext context) =>
        GrantAsync(request, context.CancellationToken);

    public override Task<LeaseRevokeResponse> LeaseRevoke(LeaseRevokeRequest request, ServerCallContext context) =>
        RevokeAsync(request, context.CancellationToken);

    public override Task<LeaseTimeToLiveResponse> LeaseTimeToLive(LeaseTimeToLiveRequest request, ServerCallContext context) =>
        TimeToLiveAsync(request, context.CancellationToken);

    public override Task<LeaseLeasesResponse> LeaseLeases(LeaseLeasesRequest request, ServerCallContext context) =>
        LeasesAsync(context.CancellationToken);

    /// <summary>
    /// One answer per request, in order: {ID, TTL} after renewing, TTL 0 when the lease is unknown or
    /// expired (etcd answers so instead of failing the stream). Other failures end the stream with the error.
    /// </summary>
    public override async Task LeaseKeepAlive(
        IAsyncStreamReader<LeaseKeepAliveRequest> requestStream,
        IServerStreamWriter<LeaseKeepAliveResponse> responseStream,
        ServerCallContext context)
    {
        var ct = context.CancellationToken;
        try
        {
            while (await requestStream.MoveNext(ct).ConfigureAwait(false))
            {
                var response = await KeepAliveOnceAsync(requestStream.Current.ID, ct).ConfigureAwait(false);
                await responseStream.WriteAsync(response, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    public async Task<LeaseKeepAliveResponse> KeepAliveOnceAsync(long leaseId, CancellationToken ct)
    {
        var result = await member.Leases.KeepAliveAsync(leaseId, ct).ConfigureAwait(false);
        if (result.Status == ServerStatus.LeaseNotFound)
        {
            return new LeaseKeepAliveResponse { Header = result.Header.ToProto(), ID = leaseId, TTL = 0 };
        }
        var ttl = result.Unwrap();
        return new LeaseKeepAliveResponse { Header = result.Header.ToProto(), ID = leaseId, TTL = ttl };
    }

    public async Task<LeaseGrantResponse> GrantAsync(LeaseGrantRequest request, CancellationToken ct)
    {
        var result = await member.Leases.GrantAsync(request.ID, request.TTL, ct).ConfigureAwait(false);
        var granted = result.UnwrapApplied();
        return new LeaseGrantResponse { Header = result.Header.ToProto(), ID = granted.LeaseId, TTL = granted.TtlSeconds };
    }

    public async Task<LeaseRevokeResponse> RevokeAsync(LeaseRevokeRequest request, CancellationToken ct)
    {
        var result = await member.Leases.RevokeAsync(request.ID, ct).ConfigureAwait(false);
        result.UnwrapApplied();
        return new LeaseRevokeResponse { Header = result.Header.ToProto() };
    }

    /// <summary>An unknown lease answers TTL -1 (not an error), as etcd does.</summary>
    public async Task<LeaseTimeToLiveResponse> TimeToLiveAsync(LeaseTimeToLiveRequest request, CancellationToken ct)
    {
        var result = await member.Leases.TimeToLiveAsync(request.ID, request.Keys, ct).ConfigureAwait(false);
        if (result.Status == ServerStatus.LeaseNotFound)
        {
            return new LeaseTimeToLiveResponse { Header = result.Header.ToProto(), ID = request.ID, TTL = -1 };
        }
        var info = result.Unwrap();
        var response = new LeaseTimeToLiveResponse
        {
            Header = result.Header.ToProto(),
            ID = info.LeaseId,
            TTL = info.RemainingTtlSeconds,
            GrantedTTL = info.GrantedTtlSeconds,
        };
        if (request.Keys)
        {
            foreach (var key in info.Keys)
            {
                response.Keys.Add(UnsafeByteOperations.UnsafeWrap(key));
            }
        }
        return response;
    }

    public async Task<LeaseLeasesResponse> LeasesAsync(CancellationToken ct)
    {
        var result = await member.Leases.LeasesAsync(ct).ConfigureAwait(false);
        var ids = result.Unwrap();
        var response = new LeaseLeasesResponse { Header = result.Header.ToProto() };
        foreach (var id in ids)
        {
            response.Leases.Add(new LeaseStatus { ID = id });
        }
        return response;
    }
}
