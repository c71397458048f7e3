namespace Conclave.Api.Etcd;

/// <summary>The request limits the front end enforces before calling the server (etcd's flags of the same names).</summary>
public sealed record EtcdLimits
{
    /// <summary>--max-txn-ops: most compares, and most ops per branch, in one txn (etcd default 128).</summary>
    public int MaxTxnOps { get; init; } = 128;

    /// <summary>--max-request-bytes: the largest request the server accepts (etcd default 1.5 MiB).</summary>
    public int MaxRequestBytes { get; init; } = 1536 * 1024;

    /// <summary>
    /// gRPC's receive limit: etcd accepts messages up to the request limit plus 512 KiB of overhead at
    /// the transport, so a slightly oversized request gets etcd's "request is too large" rather than
    /// gRPC's generic size error.
    /// </summary>
    public int MaxReceiveMessageBytes => (int)Math.Min(int.MaxValue, MaxRequestBytes + (512L * 1024));

    /// <summary>
    /// The JSON gateway's body limit: the same request as JSON carries its bytes in base64 (4 bytes per
    /// 3), plus 64 KiB for field names, so every request gRPC would accept also fits here.
    /// </summary>
    public long MaxGatewayBodyBytes => (MaxReceiveMessageBytes * 4L / 3) + (64 * 1024);
}
