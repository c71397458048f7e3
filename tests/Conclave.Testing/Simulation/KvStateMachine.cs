using System.Globalization;
using System.Text;
using Conclave.Verification.Linearizability;

namespace Conclave.Testing.Simulation;

/// <summary>
/// A replicated client command. Id is unique per client operation (retries reuse it), so a
/// command that is committed twice takes effect once. Encoded as UTF-8 lines; values never
/// contain a newline.
/// </summary>
internal sealed record Command(long Id, KvOp Op, string Key, string? Value, string? Expected)
{
    private const string Absent = "\u0000";

    public byte[] Encode() => Encoding.UTF8.GetBytes(string.Join('\n',
        Id.ToString(CultureInfo.InvariantCulture), ((int)Op).ToString(CultureInfo.InvariantCulture), Key, Value ?? Absent, Expected ?? Absent));

    public static Command Decode(ReadOnlySpan<byte> data)
    {
        var parts = Encoding.UTF8.GetString(data).Split('\n');
        if (parts.Length != 5)
        {
            throw new FormatException("simulation: malformed command");
        }

        return new Command(
            long.Parse(parts[0], CultureInfo.InvariantCulture),
            (KvOp)int.Parse(parts[1], CultureInfo.InvariantCulture),
            parts[2],
            parts[3] == Absent ? null : parts[3],
            parts[4] == Absent ? null : parts[4]);
    }
}

/// <summary>
/// The key-value state machine each simulated member applies committed commands to. It remembers
/// the result of every command id it applied, so a duplicate is skipped and the client that proposed
/// it can read its result. Deterministic: same commands in, same state out.
/// </summary>
internal sealed class KvStateMachine
{
    private readonly SortedDictionary<string, string> _data = new(StringComparer.Ordinal);
    private readonly SortedDictionary<long, KvOutput> _results = [];

    public string? Get(string key) => _data.TryGetValue(key, out var v) ? v : null;

    public KvOutput? ResultOf(long commandId) => _results.TryGetValue(commandId, out var r) ? r : null;

    public void Apply(Command c)
    {
        if (_results.ContainsKey(c.Id))
        {
            return;
        }

        var current = Get(c.Key);
        KvOutput result;
        switch (c.Op)
        {
            case KvOp.Put:
                _data[c.Key] = c.Value!;
                result = KvOutput.Done;
                break;
            case KvOp.Delete:
                result = KvOutput.Swapped(_data.Remove(c.Key));
                break;
            case KvOp.CompareAndSwap:
                var matches = current == c.Expected;
                if (matches)
                {
                    _data[c.Key] = c.Value!;
                }

                result = KvOutput.Swapped(matches);
                break;
            default:
                throw new InvalidOperationException($"simulation: command {c.Id} has op {c.Op}, which is not replicated");
        }

        _results[c.Id] = result;
    }

    /// <summary>The whole state as bytes (snapshot data); also used to compare members at the end.</summary>
    public byte[] Save()
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in _data)
        {
            sb.Append("d\n").Append(k).Append('\n').Append(v).Append('\n');
        }

        foreach (var (id, r) in _results)
        {
            sb.Append("r\n").Append(id.ToString(CultureInfo.InvariantCulture)).Append('\n')
                .Append(r.Succeeded ? '1' : '0').Append('\n');
        }

        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    public static KvStateMachine Restore(ReadOnlyMemory<byte> data)
    {
        var sm = new KvStateMachine();
        if (data.IsEmpty)
        {
            return sm;
        }

        var lines = Encoding.UTF8.GetString(data.Span).Split('\n');
        for (var i = 0; i + 2 < lines.Length; i += 3)
        {
            if (lines[i] == "d")
            {
                sm._data[lines[i + 1]] = lines[i + 2];
            }
            else
            {
                sm._results[long.Parse(lines[i + 1], CultureInfo.InvariantCulture)] = KvOutput.Swapped(lines[i + 2] == "1");
            }
        }

        return sm;
    }
}
