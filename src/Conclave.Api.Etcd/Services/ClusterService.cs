using Conclave.Api.Etcd.Protocol;
using Conclave.Server.StateMachine;
using Grpc.Core;

namespace Conclave.Api.Etcd.Services;

/// <summary>etcd's Cluster service.</summary>
public sealed class ClusterService(IEtcdMember member) : Cluster.ClusterBase
{
    public override async Task<MemberListResponse> MemberList(MemberListRequest request, ServerCallContext context)
    {
        var result = await member.Cluster.MemberListAsync(request.Linearizable, context.CancellationToken).ConfigureAwait(false);
        var response = new MemberListResponse { Header = result.Header.ToProto() };
        AddMembers(response.Members, result.Unwrap());
        return response;
    }

    public override async Task<MemberAddResponse> MemberAdd(MemberAddRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (request.PeerURLs.Count == 0 || request.PeerURLs.Any(u => !IsValidUrl(u)))
        {
            throw EtcdErrors.MemberBadUrls.ToRpcException();
        }
        var result = await member.Cluster.MemberAddAsync(request.PeerURLs, request.IsLearner, ct).ConfigureAwait(false);
        var added = result.Unwrap();
        var list = await member.Cluster.MemberListAsync(linearizable: false, ct).ConfigureAwait(false);
        var response = new MemberAddResponse { Header = result.Header.ToProto(), Member = added.ToProto() };
        AddMembers(response.Members, list.Unwrap());
        return response;
    }

    public override async Task<MemberRemoveResponse> MemberRemove(MemberRemoveRequest request, ServerCallContext context)
    {
        var result = await member.Cluster.MemberRemoveAsync(request.ID, context.CancellationToken).ConfigureAwait(false);
        var response = new MemberRemoveResponse { Header = result.Header.ToProto() };
        AddMembers(response.Members, result.Unwrap());
        return response;
    }

    public override async Task<MemberUpdateResponse> MemberUpdate(MemberUpdateRequest request, ServerCallContext context)
    {
        if (request.PeerURLs.Count == 0 || request.PeerURLs.Any(u => !IsValidUrl(u)))
        {
            throw EtcdErrors.MemberBadUrls.ToRpcException();
        }
        var result = await member.Cluster.MemberUpdateAsync(request.ID, request.PeerURLs, context.CancellationToken).ConfigureAwait(false);
        var response = new MemberUpdateResponse { Header = result.Header.ToProto() };
        AddMembers(response.Members, result.Unwrap());
        return response;
    }

    public override async Task<MemberPromoteResponse> MemberPromote(MemberPromoteRequest request, ServerCallContext context)
    {
        var result = await member.Cluster.MemberPromoteAsync(request.ID, context.CancellationToken).ConfigureAwait(false);
        var response = new MemberPromoteResponse { Header = result.Header.ToProto() };
        AddMembers(response.Members, result.Unwrap());
        return response;
    }

    private static void AddMembers(Google.Protobuf.Collections.RepeatedField<Protocol.Member> target, IReadOnlyList<Server.StateMachine.Member> members)
    {
        foreach (var m in members.OrderBy(m => m.Id))
        {
            target.Add(m.ToProto());
        }
    }

    /// <summary>etcd accepts http(s) and unix(s) URLs with a host (types.NewURLs).</summary>
    internal static bool IsValidUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri)
        && uri.Scheme is "http" or "https" or "unix" or "unixs"
        && !string.IsNullOrEmpty(uri.Host)
        && uri.AbsolutePath is "/" or ""
        && string.IsNullOrEmpty(uri.Query);
}
