using Conclave.Api.Etcd.Protocol;
using Grpc.Core;

namespace Conclave.Api.Etcd.Services;

/// <summary>
/// etcd's Auth service as etcd answers with authentication disabled and no users or roles: status
/// says disabled, Authenticate says "authentication is not enabled" (clientv3 tolerates it), enabling
/// fails because there is no root user, lookups find nothing. Creating users or roles is not
/// supported yet and answers Unimplemented, so no client believes it stored one.
/// </summary>
public sealed class AuthService(IEtcdMember member) : Auth.AuthBase
{
    /// <summary>etcd's auth store starts at revision 1.</summary>
    internal const ulong AuthRevision = 1;

    internal static readonly Grpc.Core.Status NotSupported =
        new(StatusCode.Unimplemented, "conclave: users and roles are not supported yet");

    public override Task<AuthEnableResponse> AuthEnable(AuthEnableRequest request, ServerCallContext context) =>
        throw EtcdErrors.RootUserNotExist.ToRpcException();

    public override async Task<AuthDisableResponse> AuthDisable(AuthDisableRequest request, ServerCallContext context) =>
        new() { Header = await HeaderAsync(context).ConfigureAwait(false) };

    public override async Task<AuthStatusResponse> AuthStatus(AuthStatusRequest request, ServerCallContext context) =>
        new() { Header = await HeaderAsync(context).ConfigureAwait(false), Enabled = false, AuthRevision = AuthRevision };

    public override Task<AuthenticateResponse> Authenticate(AuthenticateRequest request, ServerCallContext context) =>
        throw EtcdErrors.AuthNotEnabled.ToRpcException();

    public override Task<AuthUserAddResponse> UserAdd(AuthUserAddRequest request, ServerCallContext context) =>
        throw (string.IsNullOrEmpty(request.Name) ? EtcdErrors.UserEmpty.ToRpcException() : new RpcException(NotSupported));

    public override Task<AuthUserGetResponse> UserGet(AuthUserGetRequest request, ServerCallContext context) =>
        throw EtcdErrors.UserNotFound.ToRpcException();

    public override async Task<AuthUserListResponse> UserList(AuthUserListRequest request, ServerCallContext context) =>
        new() { Header = await HeaderAsync(context).ConfigureAwait(false) };

    public override Task<AuthUserDeleteResponse> UserDelete(AuthUserDeleteRequest request, ServerCallContext context) =>
        throw EtcdErrors.UserNotFound.ToRpcException();

    public override Task<AuthUserChangePasswordResponse> UserChangePassword(AuthUserChangePasswordRequest request, ServerCallContext context) =>
        throw EtcdErrors.UserNotFound.ToRpcException();

    public override Task<AuthUserGrantRoleResponse> UserGrantRole(AuthUserGrantRoleRequest request, ServerCallContext context) =>
        throw EtcdErrors.UserNotFound.ToRpcException();

    public override Task<AuthUserRevokeRoleResponse> UserRevokeRole(AuthUserRevokeRoleRequest request, ServerCallContext context) =>
        throw EtcdErrors.UserNotFound.ToRpcException();

    public override Task<AuthRoleAddResponse> RoleAdd(AuthRoleAddRequest request, ServerCallContext context) =>
        throw (string.IsNullOrEmpty(request.Name) ? EtcdErrors.RoleEmpty.ToRpcException() : new RpcException(NotSupported));

    public override Task<AuthRoleGetResponse> RoleGet(AuthRoleGetRequest request, ServerCallContext context) =>
        throw EtcdErrors.RoleNotFound.ToRpcException();

    public override async Task<AuthRoleListResponse> RoleList(AuthRoleListRequest request, ServerCallContext context) =>
        new() { Header = await HeaderAsync(context).ConfigureAwait(false) };

    public override Task<AuthRoleDeleteResponse> RoleDelete(AuthRoleDeleteRequest request, ServerCallContext context) =>
        throw EtcdErrors.RoleNotFound.ToRpcException();

    public override Task<AuthRoleGrantPermissionResponse> RoleGrantPermission(AuthRoleGrantPermissionRequest request, ServerCallContext context) =>
        throw EtcdErrors.RoleNotFound.ToRpcException();

    public override Task<AuthRoleRevokePermissionResponse> RoleRevokePermission(AuthRoleRevokePermissionRequest request, ServerCallContext context) =>
        throw EtcdErrors.RoleNotFound.ToRpcException();

    /// <summary>The header of a local (serializable) read of nothing: current revision, ids and term.</summary>
    private async Task<ResponseHeader> HeaderAsync(ServerCallContext context)
    {
        var result = await member.KeyValue
            .RangeAsync(Conclave.Storage.Mvcc.RangeRequest.Single(new byte[] { 0 }), serializable: true, context.CancellationToken)
            .ConfigureAwait(false);
        EtcdErrorMap.ThrowIfFailed(result.Status);
        return result.Header.ToProto();
    }
}
