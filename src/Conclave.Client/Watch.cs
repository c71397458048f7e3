using System.Runtime.CompilerServices;
using Google.Protobuf;
using Grpc.Core;
using Wire = Conclave.Api.Etcd.Protocol;

namespace Conclave.Client;

public enum WatchEventType
{
    Put,
    Delete,

    /// <summary>
    /// The watch could not resume because the revisions it missed were compacted away:
    /// <see cref="WatchEvent.Snapshot"/> is the whole watched range at
    /// <see cref="WatchEvent.Revision"/>, and live events continue after that revision. A
    /// consumer that mirrors the range replaces its copy with the snapshot.
    /// </summary>
    Resync,
}

/// <summary>
/// One change. For Put and Delete, <see cref="Kv"/> is the key after the change (for a delete:
/// the key with an empty value and <see cref="Revision"/> as its mod revision) and
/// <see cref="PrevKv"/> the previous version when the watch asked for it.
/// </summary>
public sealed record WatchEvent(
    WatchEventType Type, long Revision, KeyValue? Kv, KeyValue? PrevKv, IReadOnlyList<KeyValue> Snapshot);

public sealed record WatchOptions
{
    /// <summary>First revision to report; 0 means "changes after now".</summary>
    public long StartRevision { get; init; }

    public bool PrevKv { get; init; }

    public static WatchOptions Default { get; } = new();
}

public sealed partial class ConclaveClient
{
    /// <summary>Changes of one key, in revision order. See <see cref="WatchPrefixAsync"/> for the resume contract.</summary>
    public IAsyncEnumerable<WatchEvent> WatchAsync(string key, WatchOptions? options = null, CancellationToken cancellationToken = default) =>
        WatchRangeAsync(key, ByteString.Empty, options ?? WatchOptions.Default, cancellationToken);

    /// <summary>
    /// Changes of every key under <paramref name="prefix"/>, in revision order, until the token
    /// is cancelled. When the stream breaks (member down, connection lost) the watch reopens on
    /// a reachable member from the revision after the last one it yielded, so no change is
    /// missed or repeated. When that revision has been compacted it yields one
    /// <see cref="WatchEventType.Resync"/> event with the range's current content and goes on
    /// from there.
    /// </summary>
    public IAsyncEnumerable<WatchEvent> WatchPrefixAsync(string prefix, WatchOptions? options = null, CancellationToken cancellationToken = default) =>
        WatchRangeAsync(prefix, Keys.PrefixEnd(prefix), options ?? WatchOptions.Default, cancellationToken);

    private async IAsyncEnumerable<WatchEvent> WatchRangeAsync(
        string key, ByteString rangeEnd, WatchOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var next = options.StartRevision;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var call = await OpenWatchAsync(key, rangeEnd, next, options.PrevKv, cancellationToken);
            while (call is not null)
            {
                var response = await ReadWatchAsync(call, cancellationToken);
                if (response is null)
                {
                    break;
                }
                if (response.CompactRevision != 0)
                {
                    var snapshot = await RangeAsync(new Wire.RangeRequest { Key = Keys.Bytes(key), RangeEnd = rangeEnd }, cancellationToken);
                    next = snapshot.Revision + 1;
                    yield return new WatchEvent(WatchEventType.Resync, snapshot.Revision, null, null, snapshot.Kvs);
                    break;
                }
                if (response.Canceled)
                {
                    throw new ConclaveException(StatusCode.FailedPrecondition, $"watch cancelled by the server: {response.CancelReason}");
                }
                if (response.Created && next == 0)
                {
                    next = response.Header.Revision + 1;
                }
                foreach (var e in response.Events)
                {
                    var kv = KeyValue.From(e.Kv);
                    next = Math.Max(next, kv.ModRevision + 1);
                    yield return new WatchEvent(
                        e.Type == Wire.MvccPb.Event.Types.EventType.Put ? WatchEventType.Put : WatchEventType.Delete,
                        kv.ModRevision, kv, e.PrevKv is null ? null : KeyValue.From(e.PrevKv), []);
                }
            }
            await Task.Delay(Options.ReconnectDelay, Options.TimeProvider, cancellationToken);
        }
    }

    /// <summary>The member the most recently opened watch stream went to (for tests and diagnostics).</summary>
    internal Uri? LastWatchMember { get; private set; }

    /// <summary>A watch stream with its create request sent, or null when no member could be reached.</summary>
    private async Task<AsyncDuplexStreamingCall<Wire.WatchRequest, Wire.WatchResponse>?> OpenWatchAsync(
        string key, ByteString rangeEnd, long startRevision, bool prevKv, CancellationToken cancellationToken)
    {
        AsyncDuplexStreamingCall<Wire.WatchRequest, Wire.WatchResponse>? call = null;
        try
        {
            var member = await ConnectedMemberAsync(cancellationToken);
            LastWatchMember = member.Address;
            // etcd refuses watches on a member without a leader only when asked to (require-leader metadata).
            call = member.Watch.Watch(new Metadata { { "hasleader", "true" } }, cancellationToken: cancellationToken);
            await call.RequestStream.WriteAsync(new Wire.WatchRequest
            {
                CreateRequest = new Wire.WatchCreateRequest
                {
                    Key = Keys.Bytes(key),
                    RangeEnd = rangeEnd,
                    StartRevision = startRevision,
                    PrevKv = prevKv,
                },
            }, cancellationToken);
            return call;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            call?.Dispose();
            throw new OperationCanceledException("the watch was cancelled", e, cancellationToken);
        }
        catch (Exception e) when (e is ClusterUnavailableException or RpcException or IOException && !cancellationToken.IsCancellationRequested)
        {
            call?.Dispose();
            return null;
        }
    }

    /// <summary>The next response, or null when the stream broke and must be reopened.</summary>
    private static async Task<Wire.WatchResponse?> ReadWatchAsync(
        AsyncDuplexStreamingCall<Wire.WatchRequest, Wire.WatchResponse> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call.ResponseStream.MoveNext(cancellationToken) ? call.ResponseStream.Current : null;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("the watch was cancelled", e, cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.Cancelled)
        {
            return null;
        }
    }
}
