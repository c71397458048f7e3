using System.Net;
using System.Net.Sockets;

namespace Conclave.Testing.Etcd;

/// <summary>Finds free TCP ports on 127.0.0.1 by binding to port 0.</summary>
/// <remarks>
/// The port is released before the caller binds it, so another process may take it in
/// between; callers that start a server on it must be ready to retry on "address in use".
/// </remarks>
public static class FreePort
{
    /// <summary><paramref name="count"/> distinct free ports (all held open until all are chosen).</summary>
    public static int[] Take(int count)
    {
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}
