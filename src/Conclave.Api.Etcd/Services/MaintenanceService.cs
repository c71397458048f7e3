using System.Security.Cryptography;
using Conclave.Api.Etcd.Protocol;
using Conclave.Server.StateMachine;
using Google.Protobuf;
using Grpc.Core;
using ServerAlarmType = Conclave.Server.StateMachine.AlarmType;

namespace Conclave.Api.Etcd.Services;

/// <summary>etcd's Maintenance service.</summary>
public sealed class MaintenanceService(IEtcdMember member) : Maintenance.MaintenanceBase
{
    /// <summary>Snapshot chunk size on the wire (etcd sends 32 KiB blobs).</summary>
    internal const int SnapshotChunkBytes = 32 * 1024;

    public override Task<StatusResponse> Status(StatusRequest request, ServerCallContext context) =>
        StatusAsync(context.CancellationToken);

    public async Task<StatusResponse> StatusAsync(CancellationToken ct)
    {
        var result = await member.Maintenance.StatusAsync(ct).ConfigureAwait(false);
        var status = result.Unwrap();
        var response = new StatusResponse
        {
            Header = result.Header.ToProto(),
            Version = status.Version,
            DbSize = status.DbSize,
            DbSizeInUse = status.DbSizeInUse,
            Leader = status.Leader,
            RaftIndex = status.RaftIndex,
            RaftTerm = status.RaftTerm,
            RaftAppliedIndex = status.RaftAppliedIndex,
            IsLearner = status.IsLearner,
        };
        response.Errors.AddRange(status.Errors);
        return response;
    }

    public override async Task<AlarmResponse> Alarm(AlarmRequest request, ServerCallContext context)
    {
        AlarmAction? action = request.Action switch
        {
            AlarmRequest.Types.AlarmAction.Get => null,
            AlarmRequest.Types.AlarmAction.Activate => AlarmAction.Activate,
            AlarmRequest.Types.AlarmAction.Deactivate => AlarmAction.Deactivate,
            _ => throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, "etcdserver: unknown alarm action")),
        };
        var result = await member.Maintenance
            .AlarmAsync(action, request.MemberID, (ServerAlarmType)(int)request.Alarm, context.CancellationToken)
            .ConfigureAwait(false);
        var response = new AlarmResponse { Header = result.Header.ToProto() };
        foreach (var (memberId, alarm) in result.Unwrap())
        {
            response.Alarms.Add(new AlarmMember { MemberID = memberId, Alarm = (Protocol.AlarmType)(int)alarm });
        }
        return response;
    }

    /// <summary>
    /// etcd hashes its whole backend file; Conclave has no such file, so Hash answers with the hash of
    /// the key-value state at the current revision (what HashKV(0) reports), which is what Hash is used
    /// for: comparing members.
    /// </summary>
    public override async Task<HashResponse> Hash(HashRequest request, ServerCallContext context)
    {
        var result = await member.Maintenance.HashKVAsync(0, context.CancellationToken).ConfigureAwait(false);
        var hash = result.Unwrap();
        EtcdErrorMap.ThrowIfFailed(EtcdErrorMap.FromApplyStatus(ApplyStatusMapping.FromMvcc(hash.Status)));
        return new HashResponse { Header = result.Header.ToProto(), Hash = hash.Hash };
    }

    public override async Task<HashKVResponse> HashKV(HashKVRequest request, ServerCallContext context)
    {
        var result = await member.Maintenance.HashKVAsync(request.Revision, context.CancellationToken).ConfigureAwait(false);
        var hash = result.Unwrap();
        EtcdErrorMap.ThrowIfFailed(EtcdErrorMap.FromApplyStatus(ApplyStatusMapping.FromMvcc(hash.Status)));
        return new HashKVResponse
        {
            Header = result.Header.ToProto(),
            Hash = hash.Hash,
            CompactRevision = hash.CompactRevision,
            HashRevision = hash.HashRevision,
        };
    }

    /// <summary>
    /// Streams the member's snapshot image, zero-padded to a multiple of 512 bytes, followed by the
    /// SHA-256 of the padded image (32 bytes), as etcd appends the checksum of its database file;
    /// remaining_bytes counts down to 0 on the last message.
    /// </summary>
    public override async Task Snapshot(SnapshotRequest request, IServerStreamWriter<SnapshotResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var status = await member.Maintenance.StatusAsync(ct).ConfigureAwait(false);
        var header = status.Header.ToProto();
        // The image is the in-memory state, so holding it whole to learn its size is bounded by the quota.
        var image = new MemoryStream();
        await foreach (var chunk in member.Maintenance.SnapshotAsync(ct).ConfigureAwait(false))
        {
            image.Write(chunk.Span);
        }
        // etcd's image is a bbolt file, a whole number of 512-byte pages; clients check that the
        // stream minus the 32-byte checksum is such a multiple, so the image is padded with zeros.
        var padding = (int)((512 - (image.Length % 512)) % 512);
        image.Write(new byte[padding]);
        image.Write(SHA256.HashData(image.GetBuffer().AsSpan(0, (int)image.Length)));
        var data = image.GetBuffer().AsMemory(0, (int)image.Length);
        var sent = 0;
        var first = true;
        do
        {
            var n = Math.Min(SnapshotChunkBytes, data.Length - sent);
            var response = new SnapshotResponse
            {
                RemainingBytes = (ulong)(data.Length - sent - n),
                Blob = UnsafeByteOperations.UnsafeWrap(data.Slice(sent, n)),
            };
            if (first)
            {
                response.Header = header;
                first = false;
            }
            await responseStream.WriteAsync(response, ct).ConfigureAwait(false);
            sent += n;
        }
        while (sent < data.Length);
    }

    public override async Task<DefragmentResponse> Defragment(DefragmentRequest request, ServerCallContext context)
    {
        var result = await member.Maintenance.DefragmentAsync(context.CancellationToken).ConfigureAwait(false);
        result.Unwrap();
        return new DefragmentResponse { Header = result.Header.ToProto() };
    }

    public override async Task<MoveLeaderResponse> MoveLeader(MoveLeaderRequest request, ServerCallContext context)
    {
        var result = await member.Maintenance.MoveLeaderAsync(request.TargetID, context.CancellationToken).ConfigureAwait(false);
        result.Unwrap();
        return new MoveLeaderResponse { Header = result.Header.ToProto() };
    }
}
