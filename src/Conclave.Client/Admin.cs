using Grpc.Core;
using Wire = Conclave.Api.Etcd.Protocol;

namespace Conclave.Client;

/// <summary>A member of the cluster as the Cluster API lists it; <see cref="Name"/> is empty until an added member has started.</summary>
public sealed record ClusterMember(ulong Id, string Name, IReadOnlyList<string> PeerUrls, IReadOnlyList<string> ClientUrls, bool IsLearner);

/// <summary>The membership and the cluster id, as the answering member sees them.</summary>
public sealed record MemberListResult(ulong ClusterId, ulong AnsweredBy, IReadOnlyList<ClusterMember> Members);

/// <summary>The result of a member add: the new member (id assigned) and the membership after it.</summary>
public sealed record MemberAddResult(ClusterMember Added, IReadOnlyList<ClusterMember> Members);

/// <summary>One member's status (Maintenance.Status): who leads, raft position, store revision and size.</summary>
public sealed record MemberStatus(
    Uri Endpoint, ulong ClusterId, ulong MemberId, ulong LeaderId, ulong RaftTerm, ulong RaftIndex, ulong RaftAppliedIndex,
    long Revision, long DbSize, long DbSizeInUse, bool IsLearner, string Version, IReadOnlyList<string> Errors)
{
    public bool IsLeader => LeaderId != 0 && LeaderId == MemberId;
}

/// <summary>
/// Cluster administration: lease listing, membership changes, per-member status and the snapshot
/// stream. Membership changes are writes and are never resent (see the retry policy).
/// </summary>
public sealed partial class ConclaveClient
{
    /// <summary>The ids of every live lease.</summary>
    public async Task<IReadOnlyList<long>> ListLeasesAsync(CancellationToken cancellationToken = default)
    {
        var r = await UnaryAsync((m, o) => m.Lease.LeaseLeasesAsync(new Wire.LeaseLeasesRequest(), o), retryAfterSend: true, cancellationToken);
        return r.Leases.Select(l => l.ID).ToList();
    }

    public async Task<MemberListResult> MemberListAsync(CancellationToken cancellationToken = default)
    {
        var r = await UnaryAsync((m, o) => new Wire.Cluster.ClusterClient(m.Channel).MemberListAsync(new Wire.MemberListRequest { Linearizable = true }, o), retryAfterSend: true, cancellationToken);
        return new MemberListResult(r.Header.ClusterId, r.Header.MemberId, r.Members.Select(ToMember).ToList());
    }

    public async Task<MemberAddResult> MemberAddAsync(IEnumerable<string> peerUrls, bool isLearner = false, CancellationToken cancellationToken = default)
    {
        var request = new Wire.MemberAddRequest { IsLearner = isLearner };
        request.PeerURLs.AddRange(peerUrls);
        var r = await UnaryAsync((m, o) => new Wire.Cluster.ClusterClient(m.Channel).MemberAddAsync(request, o), retryAfterSend: false, cancellationToken);
        return new MemberAddResult(ToMember(r.Member), r.Members.Select(ToMember).ToList());
    }

    public async Task<IReadOnlyList<ClusterMember>> MemberRemoveAsync(ulong id, CancellationToken cancellationToken = default)
    {
        var request = new Wire.MemberRemoveRequest { ID = id };
        var r = await UnaryAsync((m, o) => new Wire.Cluster.ClusterClient(m.Channel).MemberRemoveAsync(request, o), retryAfterSend: false, cancellationToken);
        return r.Members.Select(ToMember).ToList();
    }

    public async Task<IReadOnlyList<ClusterMember>> MemberPromoteAsync(ulong id, CancellationToken cancellationToken = default)
    {
        var request = new Wire.MemberPromoteRequest { ID = id };
        var r = await UnaryAsync((m, o) => new Wire.Cluster.ClusterClient(m.Channel).MemberPromoteAsync(request, o), retryAfterSend: false, cancellationToken);
        return r.Members.Select(ToMember).ToList();
    }

    /// <summary>
    /// The status of the member at <paramref name="endpoint"/> (one of this client's endpoints,
    /// or any other "host:port"); only that member is asked, within <see cref="ConclaveClientOptions.RequestTimeout"/>.
    /// </summary>
    public async Task<MemberStatus> StatusAsync(string endpoint, CancellationToken cancellationToken = default)
    {
        var (member, owned) = MemberFor(endpoint);
        try
        {
            if (!await member.TryConnectAsync(Options.DialTimeout, cancellationToken))
            {
                throw new ClusterUnavailableException($"could not connect to {member.Address} within {Options.DialTimeout.TotalSeconds:0.#} s");
            }
            var client = new Wire.Maintenance.MaintenanceClient(member.Channel);
            Wire.StatusResponse r;
            try
            {
                r = await client.StatusAsync(new Wire.StatusRequest(), deadline: DateTime.UtcNow + Options.RequestTimeout, cancellationToken: cancellationToken);
            }
            catch (RpcException e)
            {
                throw ErrorMapping.Map(e);
            }
            return new MemberStatus(
                member.Address, r.Header.ClusterId, r.Header.MemberId, r.Leader, r.RaftTerm, r.RaftIndex, r.RaftAppliedIndex,
                r.Header.Revision, r.DbSize, r.DbSizeInUse, r.IsLearner, r.Version, r.Errors.ToList());
        }
        finally
        {
            if (owned)
            {
                member.Dispose();
            }
        }
    }

    /// <summary>
    /// Streams the snapshot of the member at <paramref name="endpoint"/> into <paramref name="destination"/>
    /// as received (image followed by its 32-byte SHA-256, etcd's layout). <paramref name="progress"/>
    /// gets (bytes received, bytes expected in total) after every chunk. Returns the byte count.
    /// Throws <see cref="InvalidDataException"/> when the stream ends early or the checksum does not match.
    /// </summary>
    public async Task<long> SnapshotAsync(string endpoint, Stream destination, IProgress<(long Received, long Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        var (member, owned) = MemberFor(endpoint);
        try
        {
            if (!await member.TryConnectAsync(Options.DialTimeout, cancellationToken))
            {
                throw new ClusterUnavailableException($"could not connect to {member.Address} within {Options.DialTimeout.TotalSeconds:0.#} s");
            }
            var client = new Wire.Maintenance.MaintenanceClient(member.Channel);
            using var call = client.Snapshot(new Wire.SnapshotRequest(), cancellationToken: cancellationToken);
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var tail = new List<byte>(64);
            long received = 0;
            long total = -1;
            ulong remaining = ulong.MaxValue;
            try
            {
                while (await call.ResponseStream.MoveNext(cancellationToken))
                {
                    var chunk = call.ResponseStream.Current;
                    var blob = chunk.Blob.Memory;
                    if (total < 0)
                    {
                        total = blob.Length + (long)chunk.RemainingBytes;
                    }
                    await destination.WriteAsync(blob, cancellationToken);
                    received += blob.Length;
                    remaining = chunk.RemainingBytes;
                    // Everything except the last 32 bytes is hashed; the last 32 are the checksum.
                    tail.AddRange(blob.Span);
                    if (tail.Count > 32)
                    {
                        var hashable = tail.Count - 32;
                        sha.AppendData(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tail)[..hashable]);
                        tail.RemoveRange(0, hashable);
                    }
                    progress?.Report((received, total));
                }
            }
            catch (RpcException e)
            {
                throw ErrorMapping.Map(e);
            }
            if (remaining != 0 || received != total || tail.Count != 32)
            {
                throw new InvalidDataException($"the snapshot stream from {member.Address} ended after {received} of {total} bytes");
            }
            if (!sha.GetHashAndReset().AsSpan().SequenceEqual(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tail)))
            {
                throw new InvalidDataException($"the snapshot from {member.Address} does not match its SHA-256 checksum");
            }
            return received;
        }
        finally
        {
            if (owned)
            {
                member.Dispose();
            }
        }
    }

    /// <summary>This client's member for the endpoint, or a new one (owned: dispose it) for another address.</summary>
    private (Member Member, bool Owned) MemberFor(string endpoint)
    {
        var uri = ToUri(endpoint);
        var existing = _members.FirstOrDefault(m => m.Address == uri);
        return existing is not null ? (existing, false) : (new Member(uri), true);
    }

    private static ClusterMember ToMember(Wire.Member m) =>
        new(m.ID, m.Name, m.PeerURLs.ToList(), m.ClientURLs.ToList(), m.IsLearner);
}
