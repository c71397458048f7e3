using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// Structure-aware inputs for gRPC methods: a random valid instance of any protobuf message, built from
/// its descriptor (each field set with probability one half; repeated fields get up to two items;
/// nested messages to depth three), and protobuf-specific mutations of its encoding.
/// </summary>
internal static class ProtoGen
{
    public static IMessage Random(Random rng, MessageDescriptor descriptor, int depth = 0)
    {
        var message = descriptor.Parser.ParseFrom(ByteString.Empty);
        foreach (var field in descriptor.Fields.InDeclarationOrder())
        {
            if (field.IsMap || rng.Next(2) == 0 || (field.FieldType == FieldType.Message && depth >= 3))
            {
                continue;
            }

            if (field.IsRepeated)
            {
                var list = (IList)field.Accessor.GetValue(message);
                for (var i = rng.Next(3); i > 0; i--)
                {
                    list.Add(Value(rng, field, depth));
                }
            }
            else
            {
                field.Accessor.SetValue(message, Value(rng, field, depth));
            }
        }

        return message;
    }

    private static object Value(Random rng, FieldDescriptor field, int depth) => field.FieldType switch
    {
        FieldType.String => rng.Next(3) == 0 ? "" : "k" + rng.Next(8),
        FieldType.Bytes => ByteString.CopyFrom(rng.Next(3) == 0 ? Mutator.RandomBytes(rng, rng.Next(6)) : System.Text.Encoding.UTF8.GetBytes("k" + rng.Next(8))),
        FieldType.Bool => rng.Next(2) == 0,
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => rng.Next(4) switch
        {
            0 => 0L,
            1 => (long)rng.Next(-2, 20),
            2 => long.MaxValue,
            _ => rng.NextInt64(long.MinValue, long.MaxValue),
        },
        FieldType.UInt64 or FieldType.Fixed64 => Mutator.Number(rng),
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => rng.Next(3) == 0 ? rng.Next() : rng.Next(-2, 10),
        FieldType.UInt32 or FieldType.Fixed32 => (uint)rng.Next(10),
        FieldType.Double => rng.NextDouble(),
        FieldType.Float => (float)rng.NextDouble(),
        FieldType.Enum => rng.Next(5) == 0 ? rng.Next(-1, 20) : field.EnumType.Values[rng.Next(field.EnumType.Values.Count)].Number,
        FieldType.Message => Random(rng, field.MessageType, depth + 1),
        _ => throw new NotSupportedException($"field type {field.FieldType}"),
    };

    /// <summary>
    /// The encoding of a valid message, then: unchanged, mutated bytes (<see cref="Mutator"/>), an
    /// unknown field appended (any wire type, including a length-delimited one that claims more bytes
    /// than follow), the message repeated (a protobuf merge: duplicated fields), or a field with a wrong wire type.
    /// </summary>
    public static byte[] Input(Random rng, MessageDescriptor descriptor)
    {
        var valid = Random(rng, descriptor).ToByteArray();
        switch (rng.Next(6))
        {
            case 0:
                return valid;
            case 1:
                {
                    var number = rng.Next(2) == 0 ? 15 + rng.Next(100) : 536_870_911;
                    var wire = rng.Next(6);
                    var tag = (uint)(number << 3 | wire);
                    var extra = new List<byte>();
                    for (var v = tag; ; v >>= 7)
                    {
                        extra.Add((byte)(v < 0x80 ? v : (v & 0x7F) | 0x80));
                        if (v < 0x80)
                        {
                            break;
                        }
                    }

                    extra.AddRange(wire == 2 && rng.Next(2) == 0 ? [0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x01] : Mutator.RandomBytes(rng, rng.Next(9)));
                    return [.. valid, .. extra];
                }

            case 2:
                return [.. valid, .. valid];
            case 3 when valid.Length > 0:
                {
                    // Flip the wire type of the first tag.
                    var copy = valid.ToArray();
                    copy[0] = (byte)((copy[0] & ~7) | rng.Next(8));
                    return copy;
                }

            default:
                return Mutator.Mutate(rng, valid);
        }
    }
}
