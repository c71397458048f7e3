using Conclave.Api.Etcd.Protocol;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Client;

/// <summary>One endpoint of the cluster: a channel and the stubs over it.</summary>
internal sealed class Member : IDisposable
{
    public Member(Uri address)
    {
        Address = address;
        Channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                KeepAlivePingDelay = TimeSpan.FromSeconds(10),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                ConnectTimeout = TimeSpan.FromSeconds(2),
            },
        });
        Kv = new KV.KVClient(Channel);
        Watch = new Watch.WatchClient(Channel);
        Lease = new Lease.LeaseClient(Channel);
    }

    public Uri Address { get; }

    public GrpcChannel Channel { get; }

    public KV.KVClient Kv { get; }

    public Watch.WatchClient Watch { get; }

    public Lease.LeaseClient Lease { get; }

    /// <summary>True when the last connection attempt failed and the channel is backing off.</summary>
    public bool IsFailing => Channel.State == ConnectivityState.TransientFailure;

    /// <summary>
    /// Waits (at most <paramref name="timeout"/>) until the channel has a connection. False means
    /// nothing was sent to this member, so any request may go to another one instead.
    /// </summary>
    public async Task<bool> TryConnectAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (Channel.State == ConnectivityState.Ready)
        {
            return true;
        }
        using var dial = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        dial.CancelAfter(timeout);
        try
        {
            await Channel.ConnectAsync(dial.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public void Dispose() => Channel.Dispose();
}
