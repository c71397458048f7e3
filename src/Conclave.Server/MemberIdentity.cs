using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Conclave.Server;

/// <summary>
/// How member and cluster ids are derived, so every member (and the executable that builds the
/// transport before the member exists) computes the same ids from the same flags.
/// <list type="bullet">
/// <item>member id = the first 8 bytes, big-endian, of SHA-256("conclave-member\n" + the member's
/// peer URLs sorted ordinally and joined with "," + "\n" + the cluster token).</item>
/// <item>cluster id = the first 8 bytes, big-endian, of SHA-256("conclave-cluster\n" + token).</item>
/// </list>
/// A zero result is replaced by 1 (0 means "none" to the consensus core). As in etcd the member id
/// depends only on the peer URLs and the token, so a member started later with
/// initial-cluster-state=existing finds its own id from its own flags. Unlike etcd the cluster id
/// depends on the token alone (not on the initial member ids), so a member that joins later
/// computes it without asking the cluster; give each cluster its own token.
/// </summary>
public static class MemberIdentity
{
    public static ulong MemberId(IEnumerable<string> peerUrls, string clusterToken)
    {
        ArgumentNullException.ThrowIfNull(peerUrls);
        var urls = peerUrls.Order(StringComparer.Ordinal);
        return Hash($"conclave-member\n{string.Join(',', urls)}\n{clusterToken}");
    }

    public static ulong ClusterId(string clusterToken) => Hash($"conclave-cluster\n{clusterToken}");

    private static ulong Hash(string text)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text), digest);
        var id = BinaryPrimitives.ReadUInt64BigEndian(digest);
        return id == 0 ? 1 : id;
    }
}
