using Conclave.Api.Etcd.Protocol;
using Grpc.Core;
using ServerWatch = Conclave.Server.Watch;
using WatchFilters = Conclave.Server.Watch.WatchFilters;
using WatchStream = Conclave.Server.Watch.WatchStream;

namespace Conclave.Api.Etcd.Services;

/// <summary>
/// etcd's Watch service: one <see cref="WatchStream"/> per client stream. Requests (create, cancel,
/// progress) are handed to the stream as they arrive; the stream's responses are forwarded in order
/// with the cluster header. The call ends when the client closes its side or the stream completes.
/// </summary>
public sealed class WatchService(IEtcdMember member) : Protocol.Watch.WatchBase
{
    public override async Task Watch(
        IAsyncStreamReader<WatchRequest> requestStream,
        IServerStreamWriter<WatchResponse> responseStream,
        ServerCallContext context)
    {
        using var stream = member.OpenWatchStream();
        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var sending = SendAsync(stream, responseStream, done.Token);
        try
        {
            while (await requestStream.MoveNext(done.Token).ConfigureAwait(false))
            {
                Handle(stream, requestStream.Current);
            }
        }
        catch (OperationCanceledException) when (done.IsCancellationRequested)
        {
            // The client went away or the sender stopped; nothing more to read.
        }
        // etcd keeps sending after the client half-closes its side until the call is canceled;
        // clients (etcdctl watch) rely on that, so wait for the sender, not for the request side.
        try
        {
            await sending.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
        }
    }

    private static void Handle(WatchStream stream, WatchRequest request)
    {
        switch (request.RequestUnionCase)
        {
            case WatchRequest.RequestUnionOneofCase.CreateRequest:
                stream.Create(ToServer(request.CreateRequest));
                break;
            case WatchRequest.RequestUnionOneofCase.CancelRequest:
                stream.Cancel(request.CancelRequest.WatchId);
                break;
            case WatchRequest.RequestUnionOneofCase.ProgressRequest:
                stream.RequestProgress();
                break;
            default:
                // etcd ignores a request with no member set.
                break;
        }
    }

    internal static ServerWatch.WatchCreateRequest ToServer(Protocol.WatchCreateRequest r)
    {
        var filters = WatchFilters.None;
        foreach (var f in r.Filters)
        {
            filters |= f switch
            {
                Protocol.WatchCreateRequest.Types.FilterType.Noput => WatchFilters.NoPut,
                Protocol.WatchCreateRequest.Types.FilterType.Nodelete => WatchFilters.NoDelete,
                _ => WatchFilters.None,
            };
        }
        return new ServerWatch.WatchCreateRequest
        {
            Key = r.Key.Memory,
            RangeEnd = r.RangeEnd.Memory,
            StartRevision = r.StartRevision,
            ProgressNotify = r.ProgressNotify,
            Filters = filters,
            PrevKv = r.PrevKv,
            WatchId = r.WatchId,
            Fragment = r.Fragment,
        };
    }

    private async Task SendAsync(WatchStream stream, IServerStreamWriter<WatchResponse> writer, CancellationToken ct)
    {
        var reader = stream.Responses;
        while (await reader.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (reader.TryRead(out var response))
            {
                await writer.WriteAsync(ToProto(response), ct).ConfigureAwait(false);
            }
        }
    }

    internal WatchResponse ToProto(ServerWatch.WatchResponse r)
    {
        var response = new WatchResponse
        {
            Header = new ResponseHeader
            {
                ClusterId = member.ClusterId,
                MemberId = member.MemberId,
                Revision = r.Revision,
                RaftTerm = member.RaftTerm,
            },
            WatchId = r.WatchId,
            Created = r.Created,
            Canceled = r.Canceled,
            CancelReason = r.CancelReason,
            CompactRevision = r.CompactRevision,
            Fragment = r.Fragment,
        };
        foreach (var ev in r.Events)
        {
            response.Events.Add(ev.ToProto());
        }
        return response;
    }
}
