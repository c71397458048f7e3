using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Conclave.Client;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>Shared rendering of keys, values and ids in the three output formats.</summary>
public static class Render
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// etcdctl's field names. The key is text (keys are UTF-8 strings in the client). The value is
    /// given twice so that JSON output is lossless and still easy to script: <c>value</c> is the
    /// text when the bytes are valid UTF-8 and null when they are not, <c>value_base64</c> is
    /// always the exact bytes in base64.
    /// </summary>
    public static JsonObject Kv(KeyValue kv)
    {
        var json = new JsonObject
        {
            ["key"] = kv.Key,
            ["create_revision"] = kv.CreateRevision,
            ["mod_revision"] = kv.ModRevision,
            ["version"] = kv.Version,
        };
        AddValue(json, kv.Value);
        json["lease"] = kv.Lease;
        return json;
    }

    /// <summary>Adds <c>value</c> (text, or null when not valid UTF-8) and <c>value_base64</c> (always) to <paramref name="json"/>.</summary>
    public static void AddValue(JsonObject json, byte[] value)
    {
        json["value"] = TryText(value);
        json["value_base64"] = Convert.ToBase64String(value);
    }

    /// <summary>The bytes decoded as UTF-8, or null when they are not valid UTF-8 (never a lossy decoding).</summary>
    public static string? TryText(byte[] value)
    {
        try
        {
            return StrictUtf8.GetString(value);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>A value for people: the text, or "(N bytes, not UTF-8)" for binary data.</summary>
    public static string DisplayValue(byte[] value) =>
        TryText(value) ?? $"({value.Length} bytes, not UTF-8; -o json gives value_base64)";

    public static JsonArray Kvs(IEnumerable<KeyValue> kvs) => new(kvs.Select(kv => (JsonNode)Kv(kv)).ToArray());

    public static JsonObject Header(long revision) => new() { ["revision"] = revision };

    /// <summary>Lease ids are shown in hex, as etcdctl shows them.</summary>
    public static string Hex(long id) => id.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>Parses a lease id as printed by `lease grant` (hex, optional 0x).</summary>
    public static long ParseLeaseId(string text)
    {
        var t = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        if (!long.TryParse(t, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            throw new CliUsageException($"'{text}' is not a lease id (hex, as printed by `conclave lease grant`)");
        }
        return id;
    }

    /// <summary>A table of key-values for human output (keys only when <paramref name="keysOnly"/>).</summary>
    public static Table KvTable(IEnumerable<KeyValue> kvs, bool keysOnly = false)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("KEY");
        if (!keysOnly)
        {
            table.AddColumn("VALUE");
            table.AddColumn(new TableColumn("CREATE").RightAligned());
            table.AddColumn(new TableColumn("MOD").RightAligned());
            table.AddColumn(new TableColumn("VERSION").RightAligned());
            table.AddColumn("LEASE");
        }
        foreach (var kv in kvs)
        {
            if (keysOnly)
            {
                table.AddRow(Markup.Escape(kv.Key));
            }
            else
            {
                table.AddRow(
                    Markup.Escape(kv.Key), Markup.Escape(DisplayValue(kv.Value)), Num(kv.CreateRevision), Num(kv.ModRevision),
                    Num(kv.Version), kv.Lease == 0 ? "" : Hex(kv.Lease));
            }
        }
        return table;
    }

    public static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>etcdctl's simple format: key line then value line.</summary>
    public static void PlainKvs(TextWriter output, IEnumerable<KeyValue> kvs, bool keysOnly = false)
    {
        foreach (var kv in kvs)
        {
            output.WriteLine(kv.Key);
            if (!keysOnly)
            {
                PlainValue(output, kv.Value);
            }
        }
    }

    /// <summary>
    /// A value line of the plain format. Text is written as text; bytes that are not UTF-8 are
    /// written raw (as etcdctl does) when the writer is the process's stdout, else (a captured
    /// writer) as the <see cref="DisplayValue"/> placeholder.
    /// </summary>
    public static void PlainValue(TextWriter output, byte[] value)
    {
        if (TryText(value) is { } text)
        {
            output.WriteLine(text);
            return;
        }
        if (ReferenceEquals(output, Console.Out))
        {
            output.Flush();
            using var stdout = Console.OpenStandardOutput();
            stdout.Write(value);
            stdout.Flush();
            output.WriteLine();
            return;
        }
        output.WriteLine(DisplayValue(value));
    }
}
