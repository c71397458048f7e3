using System.Text.Json;
using System.Text.Json.Serialization;

namespace Conclave.Server.StateMachine;

/// <summary>
/// A cluster member as etcd's Cluster API shows it. Stored in the context of the configuration
/// change that added it, so every member learns it by applying the log. Equality compares the URL lists by content.
/// </summary>
public sealed record Member
{
    public required ulong Id { get; init; }

    /// <summary>Empty until the member has started and published its name (etcd shows unstarted members without a name).</summary>
    public string Name { get; init; } = string.Empty;

    public IReadOnlyList<string> PeerUrls { get; init; } = [];

    public IReadOnlyList<string> ClientUrls { get; init; } = [];

    public bool IsLearner { get; init; }

    public bool Equals(Member? other) =>
        other is not null && Id == other.Id && Name == other.Name && IsLearner == other.IsLearner
        && PeerUrls.SequenceEqual(other.PeerUrls) && ClientUrls.SequenceEqual(other.ClientUrls);

    public override int GetHashCode() => HashCode.Combine(Id, Name, IsLearner, PeerUrls.Count, ClientUrls.Count);

    public byte[] Encode() => JsonSerializer.SerializeToUtf8Bytes(this, MemberJson.Default.Member);

    public static Member? TryDecode(ReadOnlySpan<byte> data)
    {
        try
        {
            return JsonSerializer.Deserialize(data, MemberJson.Default.Member);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSerializable(typeof(Member))]
internal sealed partial class MemberJson : JsonSerializerContext;
