using System.Buffers.Binary;

namespace Conclave.Raft;

/// <summary>Values are persisted inside ConfChange entries: never renumber.</summary>
public enum ConfChangeType : byte
{
    /// <summary>Add a voter, or promote an existing learner to voter.</summary>
    AddNode = 0,
    RemoveNode = 1,

    /// <summary>Add a learner (receives the log, neither votes nor counts), or demote a voter.</summary>
    AddLearnerNode = 2,
}

public sealed record ConfChangeSingle(ConfChangeType Type, ulong NodeId);

/// <summary>How a change with several parts is carried out. Persisted: never renumber.</summary>
public enum ConfChangeTransition : byte
{
    /// <summary>One change: applied directly. Several: joint consensus, left automatically.</summary>
    Auto = 0,

    /// <summary>Joint consensus, left automatically by the leader once the joint configuration is applied.</summary>
    JointImplicit = 1,

    /// <summary>Joint consensus, left only when someone proposes <see cref="ConfChange.LeaveJoint"/>.</summary>
    JointExplicit = 2,
}

/// <summary>
/// A membership change proposed through the log. One change with <see cref="ConfChangeTransition.Auto"/>
/// is a simple change (at most one voter may change); several changes, or an explicit transition,
/// enter a joint configuration where every decision needs a majority of the old AND the new voters.
/// No changes means "leave the joint configuration".
/// </summary>
public sealed record ConfChange
{
    private const byte FormatVersion = 1;

    public ConfChangeTransition Transition { get; init; }

    public IReadOnlyList<ConfChangeSingle> Changes { get; init; } = [];

    /// <summary>Opaque to the core; handed back with the applied entry.</summary>
    public ReadOnlyMemory<byte> Context { get; init; }

    public bool IsLeaveJoint => Changes.Count == 0;

    public static ConfChange Single(ConfChangeType type, ulong nodeId) => new() { Changes = [new ConfChangeSingle(type, nodeId)] };

    public static ConfChange LeaveJoint() => new();

    /// <summary>Whether this change enters a joint configuration, and if so whether it is left automatically.</summary>
    internal bool EntersJoint(out bool autoLeave)
    {
        autoLeave = false;
        if (Changes.Count == 0)
        {
            return false;
        }

        if (Transition != ConfChangeTransition.Auto || Changes.Count > 1)
        {
            autoLeave = Transition != ConfChangeTransition.JointExplicit;
            return true;
        }

        return false;
    }

    /// <summary>Layout: version, transition, count, (type, node id u64)*, context length u32, context.</summary>
    public byte[] Encode()
    {
        var buf = new byte[1 + 1 + 4 + (Changes.Count * 9) + 4 + Context.Length];
        buf[0] = FormatVersion;
        buf[1] = (byte)Transition;
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(2), Changes.Count);
        var at = 6;
        foreach (var c in Changes)
        {
            buf[at] = (byte)c.Type;
            BinaryPrimitives.WriteUInt64LittleEndian(buf.AsSpan(at + 1), c.NodeId);
            at += 9;
        }

        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(at), Context.Length);
        Context.Span.CopyTo(buf.AsSpan(at + 4));
        return buf;
    }

    /// <summary>Decodes what <see cref="Encode"/> wrote; throws <see cref="FormatException"/> on anything else.</summary>
    public static ConfChange Decode(ReadOnlySpan<byte> data) =>
        TryDecode(data, out var cc, out var error) ? cc! : throw new FormatException(error);

    public static bool TryDecode(ReadOnlySpan<byte> data, out ConfChange? cc, out string? error)
    {
        cc = null;
        error = null;
        if (data.Length < 6 || data[0] != FormatVersion)
        {
            error = data.Length < 6 ? "raft: conf change too short" : $"raft: unknown conf change version {data[0]}";
            return false;
        }

        var transition = data[1];
        var count = BinaryPrimitives.ReadInt32LittleEndian(data[2..]);
        if (transition > (byte)ConfChangeTransition.JointExplicit || count < 0 || (long)count * 9 > data.Length - 6 - 4)
        {
            error = "raft: malformed conf change header";
            return false;
        }

        var changes = new ConfChangeSingle[count];
        var at = 6;
        for (var i = 0; i < count; i++)
        {
            var type = data[at];
            if (type > (byte)ConfChangeType.AddLearnerNode)
            {
                error = $"raft: unknown conf change type {type}";
                return false;
            }

            changes[i] = new ConfChangeSingle((ConfChangeType)type, BinaryPrimitives.ReadUInt64LittleEndian(data[(at + 1)..]));
            at += 9;
        }

        var ctxLen = BinaryPrimitives.ReadInt32LittleEndian(data[at..]);
        if (ctxLen < 0 || ctxLen != data.Length - at - 4)
        {
            error = "raft: malformed conf change context";
            return false;
        }

        cc = new ConfChange
        {
            Transition = (ConfChangeTransition)transition,
            Changes = changes,
            Context = data[(at + 4)..].ToArray(),
        };
        return true;
    }

    public override string ToString() =>
        IsLeaveJoint ? "leave-joint" : $"{Transition} " + string.Join(' ', Changes.Select(c => c.Type switch
        {
            ConfChangeType.AddNode => $"v{c.NodeId}",
            ConfChangeType.RemoveNode => $"r{c.NodeId}",
            _ => $"l{c.NodeId}",
        }));
}
