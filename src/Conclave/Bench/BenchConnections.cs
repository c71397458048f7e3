using Grpc.Net.Client;

namespace Conclave.Bench;

/// <summary>
/// The gRPC channels of a run, one HTTP/2 connection (h2c) each. Channel i connects to
/// endpoint i mod endpoints; client i uses channel i mod channels.
/// </summary>
public sealed class BenchConnections : IDisposable
{
    private readonly GrpcChannel[] _channels;

    public BenchConnections(IReadOnlyList<string> endpoints, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _channels = new GrpcChannel[count];
        for (var i = 0; i < count; i++)
        {
            var handler = new SocketsHttpHandler
            {
                // One connection per channel, so --conns is the number of TCP connections.
                EnableMultipleHttp2Connections = false,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                ConnectTimeout = TimeSpan.FromSeconds(10),
            };
            _channels[i] = GrpcChannel.ForAddress(
                $"http://{endpoints[i % endpoints.Count]}",
                new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        }
        Endpoints = endpoints;
    }

    public IReadOnlyList<string> Endpoints { get; }

    public int Count => _channels.Length;

    public GrpcChannel this[int index] => _channels[index];

    public GrpcChannel ForClient(int client) => _channels[client % _channels.Length];

    /// <summary>The endpoint channel <paramref name="index"/> talks to.</summary>
    public string EndpointOf(int index) => Endpoints[index % Endpoints.Count];

    public void Dispose()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }
}
